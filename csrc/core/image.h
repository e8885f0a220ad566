/*
 * image.h - big-endian fields of the 40-byte control blocks the facilities
 * exchange with their VMs (IUCV's IPARML, VMCF's VMCPARM and VMCMHDR), at
 * the offsets their public headers name: ip16 / ip32 read a halfword /
 * fullword at @off, put16 / put32 write one (named for the IPARML, the
 * first image that used them).
 */
#ifndef SHMCP_IMAGE_H
#define SHMCP_IMAGE_H

#include <stdint.h>

static inline uint16_t ip16(const uint8_t *p, int off)
{
	return (uint16_t)(p[off] << 8 | p[off + 1]);
}
static inline uint32_t ip32(const uint8_t *p, int off)
{
	return (uint32_t)p[off] << 24 | (uint32_t)p[off + 1] << 16 | (uint32_t)p[off + 2] << 8 |
	       p[off + 3];
}
static inline void put16(uint8_t *p, int off, uint16_t v)
{
	p[off] = (uint8_t)(v >> 8);
	p[off + 1] = (uint8_t)v;
}
static inline void put32(uint8_t *p, int off, uint32_t v)
{
	p[off] = (uint8_t)(v >> 24);
	p[off + 1] = (uint8_t)(v >> 16);
	p[off + 2] = (uint8_t)(v >> 8);
	p[off + 3] = (uint8_t)v;
}

#endif
