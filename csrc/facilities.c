/*
 * facilities.c - the facilities the core serves, by number: the one place
 * that names them all (core/facility.h says what an entry gives).
 */
#include "core/facility.h"
#include "include/shmcp_iucv.h"
#include "include/shmcp_vmcf.h"

extern const struct shmcp_facility shmcp_iucv_facility;  /* iucv/iucv.c */
extern const struct shmcp_facility shmcp_vmcf_facility;  /* vmcf/vmcf.c */

const struct shmcp_facility *const shmcp_facilities[SHMCP_NFAC] = {
	[SHMCP_IUCV] = &shmcp_iucv_facility,
	[SHMCP_VMCF] = &shmcp_vmcf_facility,
};
