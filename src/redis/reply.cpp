// Reply's checked conversions and its redis-cli style rendering.
#include "orca/redis/reply.hpp"

#include <charconv>
#include <ostream>

namespace orca::redis {

Result<long long> Reply::as_int() const {
  switch (type_) {
    case Type::integer:
      return integer_;
    case Type::string:
    case Type::status: {
      long long v = 0;
      const char* end = text_.data() + text_.size();
      auto [p, ec] = std::from_chars(text_.data(), end, v);
      if (ec != std::errc() || p != end || text_.empty())
        return make_error_code(errc::unexpected_reply);
      return v;
    }
    case Type::error:
      return make_error_code(errc::server_error);
    default:
      return make_error_code(errc::unexpected_reply);
  }
}

Result<std::string> Reply::as_string() const {
  if (type_ == Type::string || type_ == Type::status) return text_;
  if (type_ == Type::error) return make_error_code(errc::server_error);
  return make_error_code(errc::unexpected_reply);
}

Result<std::optional<std::string>> Reply::as_optional_string() const {
  if (type_ == Type::nil) return std::optional<std::string>();
  Result<std::string> s = as_string();
  if (!s) return s.error();
  return std::optional<std::string>(std::move(*s));
}

bool Reply::is_error_kind(std::string_view prefix) const noexcept {
  if (type_ != Type::error || text_.size() < prefix.size()) return false;
  if (std::string_view(text_).substr(0, prefix.size()) != prefix) return false;
  return text_.size() == prefix.size() || text_[prefix.size()] == ' ';
}

namespace {

void render(const Reply& r, std::string& out, std::size_t indent) {
  switch (r.type()) {
    case Reply::Type::nil:
      out += "(nil)";
      return;
    case Reply::Type::status:
      out += r.str();
      return;
    case Reply::Type::error:
      out += "(error) ";
      out += r.str();
      return;
    case Reply::Type::integer:
      out += "(integer) ";
      out += std::to_string(r.integer());
      return;
    case Reply::Type::string:
      out.push_back('"');
      out += r.str();
      out.push_back('"');
      return;
    case Reply::Type::array:
      if (r.elements().empty()) {
        out += "(empty array)";
        return;
      }
      for (std::size_t i = 0; i < r.elements().size(); ++i) {
        if (i > 0) {
          out.push_back('\n');
          out.append(indent, ' ');
        }
        const std::string label = std::to_string(i + 1) + ") ";
        out += label;
        render(r.elements()[i], out, indent + label.size());
      }
      return;
  }
}

}  // namespace

std::string Reply::to_string() const {
  std::string out;
  render(*this, out, 0);
  return out;
}

std::ostream& operator<<(std::ostream& out, const Reply& reply) {
  return out << reply.to_string();
}

}  // namespace orca::redis
