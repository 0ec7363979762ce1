#pragma once

#include <string>

namespace libcluster::link {

// Defined in their own translation units (headers that cannot share one).
std::string fromDist();
std::string fromAgent();

} // namespace libcluster::link
