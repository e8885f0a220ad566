"""iceoryx2 (its Python package): publish-subscribe of byte slices, one
request service the clients publish on and one reply service per client.
mode="event": a receiver blocks on an event listener the sender notifies;
mode="busy": a receiver polls its subscriber in a loop (holds a core)."""
from __future__ import annotations

import ctypes
import itertools
import os

import iceoryx2 as iox2

_count = itertools.count()
_WAIT = iox2.Duration.from_millis(100)
_BUFFER = 64  # samples a subscriber holds; the publisher retries when full (lossless setting)


def setup(nclients: int, size: int, **opts):
    base = f"shmcpbench/{os.getpid()}-{next(_count)}"
    return {"base": base, "n": nclients, "size": size, "mode": opts.get("mode", "event")}, lambda: None


class _End:
    def __init__(self, spec) -> None:
        iox2.set_log_level_from_env_or(iox2.LogLevel.Error)
        self.node = (iox2.NodeBuilder.new().signal_handling_mode(iox2.SignalHandlingMode.Disabled)
                     .create(iox2.ServiceType.Ipc))
        self.spec = spec
        self.event = spec["mode"] == "event"
        self.size = spec["size"]

    def pubsub(self, name: str):
        n = self.spec["n"]
        return (self.node.service_builder(iox2.ServiceName.new(f"{self.spec['base']}/{name}"))
                .publish_subscribe(iox2.Slice[ctypes.c_uint8])
                .max_publishers(n).max_subscribers(1).subscriber_max_buffer_size(_BUFFER)
                .enable_safe_overflow(False).open_or_create())

    def events(self, name: str):
        return (self.node.service_builder(iox2.ServiceName.new(f"{self.spec['base']}/{name}.ev"))
                .event().max_notifiers(self.spec["n"]).max_listeners(1).open_or_create())

    def publisher(self, service):
        return (service.publisher_builder().initial_max_slice_len(self.size)
                .backpressure_strategy(iox2.BackpressureStrategy.RetryUntilDelivered).create())

    def put(self, pub, notifier, data: bytes) -> None:
        sample = pub.loan_slice_uninit(len(data))
        ctypes.memmove(sample.payload().as_ptr(), data, len(data))
        sample.assume_init().send()
        if notifier is not None:
            notifier.notify()

    def take(self, sub, listener) -> bytes:
        while True:
            sample = sub.receive()
            if sample is not None:
                p = sample.payload()
                data = ctypes.string_at(p.as_ptr(), p.len())
                sample.delete()
                return data
            if listener is not None:
                listener.timed_wait(_WAIT)


class Server(_End):
    def __init__(self, spec) -> None:
        super().__init__(spec)
        self.services = [self.pubsub("req")] + [self.pubsub(f"rep{i}") for i in range(spec["n"])]
        self.sub = self.services[0].subscriber_builder().create()
        self.pubs = [self.publisher(s) for s in self.services[1:]]
        self.listener = self.notifiers = None
        if self.event:
            self.evs = [self.events("req")] + [self.events(f"rep{i}") for i in range(spec["n"])]
            self.listener = self.evs[0].listener_builder().create()
            self.notifiers = [e.notifier_builder().create() for e in self.evs[1:]]

    def recv(self):
        data = self.take(self.sub, self.listener)
        return data[0], data

    def send(self, cid: int, data: bytes) -> None:
        self.put(self.pubs[cid], self.notifiers[cid] if self.notifiers else None, data)

    def close(self) -> None:
        for obj in (*self.pubs, self.sub, *(self.notifiers or ()), self.listener):
            if obj is not None:
                obj.delete()


class Client(_End):
    def __init__(self, spec, cid: int) -> None:
        super().__init__(spec)
        self.req = self.pubsub("req")
        self.rep = self.pubsub(f"rep{cid}")
        self.sub = self.rep.subscriber_builder().create()
        self.pub = self.publisher(self.req)
        self.listener = self.notifier = None
        if self.event:
            self.listener = self.events(f"rep{cid}").listener_builder().create()
            self.notifier = self.events("req").notifier_builder().create()

    def send(self, data: bytes) -> None:
        self.put(self.pub, self.notifier, data)

    def recv(self) -> bytes:
        return self.take(self.sub, self.listener)

    def close(self) -> None:
        for obj in (self.pub, self.sub, self.notifier, self.listener):
            if obj is not None:
                obj.delete()


open_server = Server
open_client = Client
