// XML for S3: a tiny writer for responses and parsers for the request bodies S3 clients send
// (CompleteMultipartUpload, Delete, CreateBucketConfiguration). Parsing uses
// Boost.PropertyTree's XML reader; malformed input is MalformedXML, never an exception.
#ifndef S3RDMA_PROTO_XML_H_
#define S3RDMA_PROTO_XML_H_

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "proto/object_store.h"

namespace s3rdma::proto {

// Escapes &, <, >, ", ' and control characters.
std::string XmlEscape(std::string_view s);

class XmlWriter {
 public:
  // Starts the document with the XML declaration and root element `root`; when `s3_ns`,
  // the root gets xmlns="http://s3.amazonaws.com/doc/2006-03-01/".
  XmlWriter(std::string_view root, bool s3_ns = true);
  XmlWriter& Open(std::string_view tag);
  XmlWriter& Close(std::string_view tag);
  XmlWriter& Element(std::string_view tag, std::string_view text);
  XmlWriter& Element(std::string_view tag, uint64_t value);
  XmlWriter& Bool(std::string_view tag, bool value);
  // Closes the root and returns the document.
  std::string Finish();

 private:
  std::string root_;
  std::string out_;
};

struct DeleteRequest {
  bool quiet = false;
  std::vector<std::string> keys;
};

core::Result<std::vector<CompletedPart>> ParseCompleteMultipartUpload(std::string_view xml);
// At most 1000 keys (MalformedXML beyond).
core::Result<DeleteRequest> ParseDeleteObjects(std::string_view xml);
// Accepts an empty body or a CreateBucketConfiguration; returns the LocationConstraint.
core::Result<std::string> ParseCreateBucketConfiguration(std::string_view xml);

}  // namespace s3rdma::proto

#endif  // S3RDMA_PROTO_XML_H_
