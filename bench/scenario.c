/* The names of the scenario's enums (bench/scenario.h), defined once. */
#include "bench/scenario.h"

const char *const workload_names[WL_COUNT + 1] = {
	[WL_REMAP] = "remap", [WL_PROTECT] = "protect", [WL_UNMAP] = "unmap",
};
const char *const observe_names[OBSERVE_COUNT + 1] = {
	[OBSERVE_LOCKSTEP] = "lockstep", [OBSERVE_FREE] = "free",
};
const char *const inflight_names[INFLIGHT_COUNT + 1] = {
	[INFLIGHT_SKIP] = "skip", [INFLIGHT_READ] = "read",
};
const char *const targets_names[TARGETS_COUNT + 1] = {
	[TARGETS_SPIN] = "spin", [TARGETS_HALT] = "halt",
};
const char *const initiators_names[INITIATORS_COUNT + 1] = {
	[INITIATORS_ONE] = "one", [INITIATORS_ALL] = "all",
};

const char *workload_name(int w)
{
	return w >= 0 && w < WL_COUNT ? workload_names[w] : "?";
}
