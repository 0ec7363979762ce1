#include "link/link_all.h"

#include "agent/agent_config.h"

namespace libcluster::link {

std::string fromAgent() {
  Result<nlohmann::json> json = yamlToJson("topologies: {}\n");
  return json ? json->dump() : json.error().message;
}

} // namespace libcluster::link
