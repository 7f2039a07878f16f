#include "proto/http_util.h"

#include <cstdio>
#include <cstring>
#include <ctime>

namespace s3rdma::proto {

const std::string* HttpRequest::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k == name) return &v;
  }
  return nullptr;
}

std::string_view HttpRequest::RawPath() const {
  std::string_view t = target;
  return t.substr(0, t.find('?'));
}

std::string_view HttpRequest::RawQuery() const {
  std::string_view t = target;
  const size_t q = t.find('?');
  return q == std::string_view::npos ? std::string_view() : t.substr(q + 1);
}

namespace {
int Hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::optional<std::string> UriDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    const int hi = Hex(s[i + 1]), lo = Hex(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

std::string UriEncode(std::string_view s, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3 / 2);
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~' || (c == '/' && keep_slash)) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::optional<std::vector<std::pair<std::string, std::string>>> ParseQuery(std::string_view raw) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!raw.empty()) {
    const size_t amp = raw.find('&');
    std::string_view part = raw.substr(0, amp);
    raw = amp == std::string_view::npos ? std::string_view() : raw.substr(amp + 1);
    if (part.empty()) continue;
    const size_t eq = part.find('=');
    auto name = UriDecode(part.substr(0, eq));
    auto value = eq == std::string_view::npos ? std::optional<std::string>("")
                                              : UriDecode(part.substr(eq + 1));
    if (!name || !value) return std::nullopt;
    out.emplace_back(std::move(*name), std::move(*value));
  }
  return out;
}

namespace {
constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

std::tm ToTm(int64_t t) {
  std::tm tm{};
  const time_t tt = static_cast<time_t>(t);
  gmtime_r(&tt, &tm);
  return tm;
}

std::optional<int64_t> FromFields(int year, int mon, int day, int h, int m, int s) {
  if (year < 1970 || year > 9999 || mon < 1 || mon > 12 || day < 1 || day > 31 || h < 0 ||
      h > 23 || m < 0 || m > 59 || s < 0 || s > 60) {
    return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = mon - 1;
  tm.tm_mday = day;
  tm.tm_hour = h;
  tm.tm_min = m;
  tm.tm_sec = s;
  return static_cast<int64_t>(timegm(&tm));
}

// Fixed-width decimal without snprintf (which dominated formatting the dates every signed
// request and response carries). REQUIRES: 0 <= v < 10^width.
char* PutDigits(char* p, int v, int width) {
  for (int i = width - 1; i >= 0; --i) {
    p[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
  return p + width;
}

// True when every field has exactly its printf width, so PutDigits formats exactly what
// "%04d" / "%02d" would; other years (negative, > 9999) keep the snprintf path.
bool FixedWidth(const std::tm& tm) { return tm.tm_year >= -1900 && tm.tm_year <= 9999 - 1900; }

bool Digits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}
}  // namespace

std::string FormatHttpDate(int64_t t) {
  const std::tm tm = ToTm(t);
  if (FixedWidth(tm)) {
    char out[29];  // "Wed, 21 Oct 2015 07:28:00 GMT"
    char* p = out;
    std::memcpy(p, kDays[tm.tm_wday], 3);
    p[3] = ',';
    p[4] = ' ';
    p = PutDigits(p + 5, tm.tm_mday, 2);
    *p++ = ' ';
    std::memcpy(p, kMonths[tm.tm_mon], 3);
    p[3] = ' ';
    p = PutDigits(p + 4, tm.tm_year + 1900, 4);
    *p++ = ' ';
    p = PutDigits(p, tm.tm_hour, 2);
    *p++ = ':';
    p = PutDigits(p, tm.tm_min, 2);
    *p++ = ':';
    p = PutDigits(p, tm.tm_sec, 2);
    std::memcpy(p, " GMT", 4);
    return std::string(out, sizeof out);
  }
  char buf[96];
  std::snprintf(buf, sizeof(buf), "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday],
                tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buf;
}

std::optional<int64_t> ParseHttpDate(std::string_view s) {
  // "Wed, 21 Oct 2015 07:28:00 GMT"
  if (s.size() != 29 || s.substr(3, 2) != ", " || s.substr(25) != " GMT") return std::nullopt;
  int day, year, h, m, sec;
  if (!Digits(s, 5, 2, &day) || !Digits(s, 12, 4, &year) || !Digits(s, 17, 2, &h) ||
      !Digits(s, 20, 2, &m) || !Digits(s, 23, 2, &sec) || s[16] != ' ' || s[19] != ':' ||
      s[22] != ':') {
    return std::nullopt;
  }
  int mon = 0;
  for (int i = 0; i < 12; ++i) {
    if (s.substr(8, 3) == kMonths[i]) mon = i + 1;
  }
  if (mon == 0) return std::nullopt;
  return FromFields(year, mon, day, h, m, sec);
}

std::string FormatAmzDate(int64_t t) {
  const std::tm tm = ToTm(t);
  if (FixedWidth(tm)) {
    char out[16];  // "20130524T000000Z"
    char* p = PutDigits(out, tm.tm_year + 1900, 4);
    p = PutDigits(p, tm.tm_mon + 1, 2);
    p = PutDigits(p, tm.tm_mday, 2);
    *p++ = 'T';
    p = PutDigits(p, tm.tm_hour, 2);
    p = PutDigits(p, tm.tm_min, 2);
    p = PutDigits(p, tm.tm_sec, 2);
    *p = 'Z';
    return std::string(out, sizeof out);
  }
  char buf[96];
  std::snprintf(buf, sizeof(buf), "%04d%02d%02dT%02d%02d%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

std::optional<int64_t> ParseAmzDate(std::string_view s) {
  int y, mo, d, h, mi, se;
  if (s.size() != 16 || s[8] != 'T' || s[15] != 'Z' || !Digits(s, 0, 4, &y) ||
      !Digits(s, 4, 2, &mo) || !Digits(s, 6, 2, &d) || !Digits(s, 9, 2, &h) ||
      !Digits(s, 11, 2, &mi) || !Digits(s, 13, 2, &se)) {
    return std::nullopt;
  }
  return FromFields(y, mo, d, h, mi, se);
}

std::string FormatIsoDate(int64_t t) {
  const std::tm tm = ToTm(t);
  char buf[96];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.000Z", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

std::optional<uint64_t> ParseDecimal(std::string_view s, uint64_t max) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    const uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (max - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace s3rdma::proto
