# Types of the C extension csrc/pyext/iparml.c.
from typing import Any, TypeVar

IMAGE_LEN: int
_T = TypeVar("_T", bound="Image")

class Image:
    _b: bytearray
    _cb: Any
    _bf1: Any
    _bf2: Any
    @classmethod
    def _of(cls: type[_T], image: bytes | bytearray | memoryview) -> _T: ...

class Field:
    off: int
    size: int
    name: str
    def __init__(self, off: int, size: int) -> None: ...
    def __set_name__(self, owner: type, name: str) -> None: ...
    def __get__(self, obj: Any, owner: type | None = None) -> Any: ...
    def __set__(self, obj: Any, value: int) -> None: ...

class Buffer:
    length_off: int
    name: str
    def __init__(self, which: int, length_off: int) -> None: ...
    def __get__(self, obj: Any, owner: type | None = None) -> Any: ...
    def __set__(self, obj: Any, value: Any) -> None: ...
