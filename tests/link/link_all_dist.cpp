// dist's call lives in its own translation unit: its header declares the call type too, and the
// test is about what the linker sees, not about which headers compile together.
#include "link/link_all.h"

#include "dist/ei_connector.h"

namespace libcluster::link {

std::string fromDist() {
  // A path that cannot exist: the answer is an Error naming it.
  Result<std::string> cookie = readCookieFile("/nonexistent/libcluster-link-test/.erlang.cookie");
  return cookie ? "unexpected cookie" : cookie.error().message;
}

} // namespace libcluster::link
