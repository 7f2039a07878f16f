#include "proto/xml.h"

#include <cstdio>
#include <sstream>

#include <boost/property_tree/ptree.hpp>
#include <boost/property_tree/xml_parser.hpp>

#include "proto/http_util.h"
#include "proto/s3_error.h"

namespace s3rdma::proto {
namespace pt = boost::property_tree;

std::string XmlEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r') {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "&#x%X;", static_cast<unsigned>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out;
}

XmlWriter::XmlWriter(std::string_view root, bool s3_ns) : root_(root) {
  out_ = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<";
  out_ += root;
  if (s3_ns) out_ += " xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"";
  out_ += ">";
}

XmlWriter& XmlWriter::Open(std::string_view tag) {
  out_.append("<").append(tag).append(">");
  return *this;
}

XmlWriter& XmlWriter::Close(std::string_view tag) {
  out_.append("</").append(tag).append(">");
  return *this;
}

XmlWriter& XmlWriter::Element(std::string_view tag, std::string_view text) {
  out_.append("<").append(tag).append(">");
  out_ += XmlEscape(text);
  out_.append("</").append(tag).append(">");
  return *this;
}

XmlWriter& XmlWriter::Element(std::string_view tag, uint64_t value) {
  return Element(tag, std::to_string(value));
}

XmlWriter& XmlWriter::Bool(std::string_view tag, bool value) {
  return Element(tag, value ? "true" : "false");
}

std::string XmlWriter::Finish() {
  out_.append("</").append(root_).append(">");
  return std::move(out_);
}

namespace {

core::Result<pt::ptree> Parse(std::string_view xml) {
  try {
    std::istringstream in{std::string(xml)};
    pt::ptree tree;
    pt::read_xml(in, tree, pt::xml_parser::no_comments);
    return tree;
  } catch (const std::exception& e) {
    return S3Error(S3Err::kMalformedXML);
  }
}

// The single root element named `root`, or MalformedXML.
core::Result<const pt::ptree*> Root(const pt::ptree& tree, std::string_view root) {
  const pt::ptree* found = nullptr;
  for (const auto& [name, child] : tree) {
    if (name == "<xmlcomment>") continue;
    if (name != root || found != nullptr) return S3Error(S3Err::kMalformedXML);
    found = &child;
  }
  if (found == nullptr) return S3Error(S3Err::kMalformedXML);
  return found;
}

}  // namespace

core::Result<std::vector<CompletedPart>> ParseCompleteMultipartUpload(std::string_view xml) {
  S3_ASSIGN_OR_RETURN(pt::ptree tree, Parse(xml));
  S3_ASSIGN_OR_RETURN(const pt::ptree* root, Root(tree, "CompleteMultipartUpload"));
  std::vector<CompletedPart> parts;
  for (const auto& [name, part] : *root) {
    if (name != "Part") continue;
    if (parts.size() >= static_cast<size_t>(kMaxPartNumber)) return S3Error(S3Err::kMalformedXML);
    auto number = part.get_optional<std::string>("PartNumber");
    auto etag = part.get_optional<std::string>("ETag");
    if (!number || !etag) return S3Error(S3Err::kMalformedXML);
    auto n = ParseDecimal(Trim(*number), kMaxPartNumber);
    if (!n || *n < 1) return S3Error(S3Err::kInvalidArgument, "bad PartNumber");
    parts.push_back({static_cast<int>(*n), std::string(Trim(*etag))});
  }
  if (parts.empty()) return S3Error(S3Err::kMalformedXML);
  return parts;
}

core::Result<DeleteRequest> ParseDeleteObjects(std::string_view xml) {
  S3_ASSIGN_OR_RETURN(pt::ptree tree, Parse(xml));
  S3_ASSIGN_OR_RETURN(const pt::ptree* root, Root(tree, "Delete"));
  DeleteRequest req;
  for (const auto& [name, child] : *root) {
    if (name == "Quiet") {
      req.quiet = Trim(child.data()) == "true";
    } else if (name == "Object") {
      auto key = child.get_optional<std::string>("Key");
      if (!key) return S3Error(S3Err::kMalformedXML);
      if (req.keys.size() >= 1000) return S3Error(S3Err::kMalformedXML);
      req.keys.push_back(*key);
    }
  }
  if (req.keys.empty()) return S3Error(S3Err::kMalformedXML);
  return req;
}

core::Result<std::string> ParseCreateBucketConfiguration(std::string_view xml) {
  if (Trim(xml).empty()) return std::string();
  S3_ASSIGN_OR_RETURN(pt::ptree tree, Parse(xml));
  S3_ASSIGN_OR_RETURN(const pt::ptree* root, Root(tree, "CreateBucketConfiguration"));
  return root->get<std::string>("LocationConstraint", "");
}

}  // namespace s3rdma::proto
