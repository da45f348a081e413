// TokenTable (token_table.hpp): parsing, the permission check of the file, and the
// constant-time lookup over SHA-256 hashes (OpenSSL's libcrypto).
#include "orca/net/http/token_table.hpp"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace orca::http {

namespace {

// Below 16 characters a token is guessable at the rate the failure limiter allows
// over weeks; 512 bounds the line and the hashing work per request.
constexpr std::size_t kMinToken = 16;
constexpr std::size_t kMaxToken = 512;
constexpr std::size_t kMaxName = 64;
// A token file is a handful of lines; anything bigger is not one.
constexpr off_t kMaxFile = 1 << 20;

std::array<unsigned char, 32> sha256(std::string_view text) {
  std::array<unsigned char, 32> out{};
  ::SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), out.data());
  return out;
}

bool token68(std::string_view t) {
  std::size_t i = 0;
  for (; i < t.size(); ++i) {
    const char c = t[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
    if (!ok) break;
  }
  if (i == 0) return false;
  for (; i < t.size(); ++i)
    if (t[i] != '=') return false;
  return true;
}

bool name_ok(std::string_view n) {
  if (n.empty() || n.size() > kMaxName) return false;
  for (const char c : n) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '_' || c == '@' || c == ':';
    if (!ok) return false;
  }
  return true;
}

std::vector<std::string_view> fields(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t'))
      ++i;
    const std::size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t')
      ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

}  // namespace

std::string_view to_string(Role role) noexcept {
  return role == Role::kAdmin ? "admin" : "read";
}

void TokenTable::parse(std::string_view text, std::string_view origin) {
  std::vector<Entry> entries = entries_;  // committed only if every entry parses
  std::size_t line_no = 0;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find_first_of("\n;", start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const std::vector<std::string_view> f = fields(line);
    if (f.empty() || f[0].front() == '#') continue;
    const auto bad = [&](const std::string& why) {
      std::string m(origin);
      m.append(", entry ").append(std::to_string(line_no)).append(": ").append(why);
      return std::invalid_argument(m);
    };
    if (f.size() < 2 || f.size() > 3) throw bad("expected ROLE TOKEN [NAME]");
    Role role;
    if (f[0] == "admin")
      role = Role::kAdmin;
    else if (f[0] == "read")
      role = Role::kRead;
    else
      throw bad("role must be read or admin, got \"" + std::string(f[0]) + "\"");
    const std::string_view token = f[1];
    if (token.size() < kMinToken || token.size() > kMaxToken)
      throw bad("a token must be 16 to 512 characters (got " + std::to_string(token.size()) + ")");
    if (!token68(token))
      throw bad("a token may hold only letters, digits, -._~+/ and trailing '='");
    std::string name;
    if (f.size() == 3) {
      if (!name_ok(f[2])) throw bad("a name is 1 to 64 letters, digits or -._@: characters");
      name = f[2];
    } else {
      name.append(to_string(role)).append("-").append(std::to_string(entries.size() + 1));
    }
    Entry e{sha256(token), Principal{name, role}};
    for (const Entry& other : entries) {
      if (other.hash == e.hash) throw bad("the same token is listed twice");
      if (other.principal.name == name) throw bad("the name \"" + name + "\" is listed twice");
    }
    entries.push_back(std::move(e));
  }
  entries_ = std::move(entries);
}

void TokenTable::load_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::invalid_argument(path + ": " + std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw std::invalid_argument(path + ": " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw std::invalid_argument(path + ": not a regular file");
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    throw std::invalid_argument(path + ": permissions " + mode +
                                " are too open: it holds secrets, so group and others must have "
                                "no access (chmod 600 " +
                                path + ")");
  }
  if (st.st_size > kMaxFile) throw std::invalid_argument(path + ": larger than 1 MiB");
  std::string text;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw std::invalid_argument(path + ": " + std::strerror(errno));
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > static_cast<std::size_t>(kMaxFile))
      throw std::invalid_argument(path + ": larger than 1 MiB");
  }
  parse(text, path);
  OPENSSL_cleanse(text.data(), text.size());
  OPENSSL_cleanse(buf, sizeof buf);
}

std::optional<Principal> TokenTable::find(std::string_view token) const {
  const std::array<unsigned char, 32> h = sha256(token);
  const Entry* found = nullptr;
  // Every entry is compared, the match or not, so the time does not say which one
  // (or whether one) matched.
  for (const Entry& e : entries_) {
    const bool same = CRYPTO_memcmp(e.hash.data(), h.data(), h.size()) == 0;
    if (same) found = &e;
  }
  if (found == nullptr) return std::nullopt;
  return found->principal;
}

}  // namespace orca::http
