#include "dns/cares_status.h"

#include <string>

#include <ares.h>

#include "core/check.h"

namespace libcluster {
namespace {

struct Mapping {
  Error::Code code;
  std::string_view reason;
  std::string_view constant;
};

Mapping mapping(int status) {
  using Code = Error::Code;
  switch (status) {
  case ARES_ENODATA:
    return {Code::NotFound, "the name has no records of that type (NODATA)", "ARES_ENODATA"};
  case ARES_ENOTFOUND:
    return {Code::NotFound, "the name does not exist (NXDOMAIN)", "ARES_ENOTFOUND"};
  case ARES_EFORMERR:
    return {Code::Unavailable, "the server could not read the query (FORMERR)", "ARES_EFORMERR"};
  case ARES_ESERVFAIL:
    return {Code::Unavailable, "the server failed (SERVFAIL)", "ARES_ESERVFAIL"};
  case ARES_ENOTIMP:
    return {Code::Unavailable, "the server does not implement the query (NOTIMP)", "ARES_ENOTIMP"};
  case ARES_EREFUSED:
    return {Code::Unavailable, "the server refused the query (REFUSED)", "ARES_EREFUSED"};
  case ARES_ECONNREFUSED:
    // c-ares 1.18 also ends here when every server answered SERVFAIL, REFUSED or NOTIMP: it
    // discards those answers to try the next server, and reports the query's initial status.
    return {Code::Unavailable,
            "no server gave an answer (connection refused, or SERVFAIL/REFUSED/NOTIMP)",
            "ARES_ECONNREFUSED"};
  case ARES_EOF:
    return {Code::Unavailable, "the server closed the connection", "ARES_EOF"};
  case ARES_ETIMEOUT:
    return {Code::Timeout, "no server answered in time", "ARES_ETIMEOUT"};
  case ARES_ECANCELLED:
    return {Code::Cancelled, "the query was cancelled", "ARES_ECANCELLED"};
  case ARES_EDESTRUCTION:
    return {Code::Cancelled, "the resolver was destroyed", "ARES_EDESTRUCTION"};
  case ARES_EBADRESP:
    return {Code::Invalid, "the answer is malformed", "ARES_EBADRESP"};
  case ARES_EBADNAME:
    return {Code::Invalid, "not a valid domain name", "ARES_EBADNAME"};
  case ARES_EBADQUERY:
    return {Code::Invalid, "the query is malformed", "ARES_EBADQUERY"};
  case ARES_EBADFAMILY:
    return {Code::Invalid, "unsupported address family", "ARES_EBADFAMILY"};
  case ARES_EBADSTR:
    return {Code::Invalid, "malformed string", "ARES_EBADSTR"};
  case ARES_EBADFLAGS:
    return {Code::Invalid, "invalid flags", "ARES_EBADFLAGS"};
  case ARES_ENONAME:
    return {Code::Invalid, "not a numeric host name", "ARES_ENONAME"};
  case ARES_EBADHINTS:
    return {Code::Invalid, "invalid hints", "ARES_EBADHINTS"};
  case ARES_ESERVICE:
    return {Code::Invalid, "unknown service name", "ARES_ESERVICE"};
  case ARES_EFILE:
    return {Code::Internal, "could not read the resolver configuration", "ARES_EFILE"};
  case ARES_ENOMEM:
    return {Code::Internal, "out of memory", "ARES_ENOMEM"};
  case ARES_ENOTINITIALIZED:
    return {Code::Internal, "c-ares is not initialised", "ARES_ENOTINITIALIZED"};
  case ARES_ELOADIPHLPAPI:
    return {Code::Internal, "could not load iphlpapi", "ARES_ELOADIPHLPAPI"};
  case ARES_EADDRGETNETWORKPARAMS:
    return {Code::Internal, "could not read network parameters", "ARES_EADDRGETNETWORKPARAMS"};
  default:
    return {Code::Internal, "unknown c-ares status", "?"};
  }
}

} // namespace

Error caresError(int status, std::string_view query) {
  CHECK(status != ARES_SUCCESS, "only failures map to an Error");
  const Mapping m = mapping(status);
  std::string message(query);
  message += " failed: ";
  message += m.reason;
  message += " [";
  message += m.constant == "?" ? "status " + std::to_string(status) : std::string(m.constant);
  message += "]";
  return Error{m.code, std::move(message)};
}

} // namespace libcluster
