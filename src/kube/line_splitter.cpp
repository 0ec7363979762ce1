#include "kube/line_splitter.h"

namespace libcluster {

void LineSplitter::append(std::string_view bytes) {
  if (start_ > 0 && start_ * 2 >= buffer_.size()) {
    // Drop consumed lines once they are at least half the buffer, so appends stay amortised O(n).
    buffer_.erase(0, start_);
    scanned_ -= start_;
    start_ = 0;
  }
  buffer_.append(bytes);
}

std::optional<std::string> LineSplitter::nextLine() {
  while (true) {
    const std::size_t newline = buffer_.find('\n', scanned_);
    if (newline == std::string::npos) {
      scanned_ = buffer_.size();
      if (buffer_.size() - start_ > maxLineBytes_) {
        overflowed_ = true;
      }
      return std::nullopt;
    }
    std::size_t end = newline;
    if (end > start_ && buffer_[end - 1] == '\r') {
      --end;
    }
    std::string line = buffer_.substr(start_, end - start_);
    start_ = newline + 1;
    scanned_ = start_;
    if (line.size() > maxLineBytes_) {
      overflowed_ = true;
      return std::nullopt;
    }
    if (line.find_first_not_of(" \t\r") == std::string::npos) {
      continue;
    }
    return line;
  }
}

std::string_view LineSplitter::pending() const { return std::string_view(buffer_).substr(start_); }

} // namespace libcluster
