#pragma once

#include <string_view>

#include "core/result.h"

namespace libcluster {

/// The Error for a failed c-ares status (an ARES_E* value); `query` names what was asked, e.g.
/// "A lookup of 'app.test'", and starts the message. Only for failures: ARES_SUCCESS is a bug.
Error caresError(int status, std::string_view query);

} // namespace libcluster
