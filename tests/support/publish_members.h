#pragma once

#include <string>
#include <vector>

#include "core/result.h"
#include "kube/kube_api.h"

namespace libcluster {

/// The controller's part in tests that stand in for libcluster-controller: writes `members` the way
/// it does (docs/membership-channel.md) — ClusterTopologyMemberSlices named <topology>-<n> of at
/// most 100 members each, labelled and owned by the topology, the first member marked seed; slices
/// no longer needed deleted — and then the topology's status (members listed, memberCount, seed,
/// memberSliceCount). The ClusterTopology and the slice CRD must exist on the server.
Result<void> publishMembers(KubeApi& api, const std::string& namespaceName,
                            const std::string& topology, const std::vector<std::string>& members);

} // namespace libcluster
