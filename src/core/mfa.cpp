#include "core/mfa.h"

namespace libcluster {

Mfa defaultConnectMfa() { return {"net_kernel", "connect_node", {}}; }
Mfa defaultDisconnectMfa() { return {"erlang", "disconnect_node", {}}; }
Mfa defaultListNodesMfa() { return {"erlang", "nodes", {"connected"}}; }

} // namespace libcluster
