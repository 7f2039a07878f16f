// Multipart uploads: Create, Complete, Abort (UploadPart is PutExchange in
// s3_service_objects.cc; ListParts and ListMultipartUploads are in s3_service_list.cc).
#include "proto/internal/s3_ops.h"
#include "proto/s3_error.h"
#include "proto/xml.h"

namespace s3rdma::proto::internal {

S3Response CreateMultipartUpload(RequestContext& ctx) {
  auto meta = MetaFromRequest(ctx);
  if (!meta.ok()) return ctx.Error(meta.status());
  auto id = ctx.store().CreateUpload(ctx.bucket, ctx.key, std::move(*meta), ctx.now());
  if (!id.ok()) return ctx.Error(id.status());
  XmlWriter x("InitiateMultipartUploadResult");
  x.Element("Bucket", ctx.bucket).Element("Key", ctx.key).Element("UploadId", *id);
  return XmlResponse(200, x.Finish());
}

S3Response CompleteMultipartUpload(RequestContext& ctx, std::string_view body) {
  const std::string& upload_id = *ctx.Param("uploadId");
  // NoSuchUpload before MalformedXML, as S3 does.
  if (auto u = ctx.store().GetUpload(ctx.bucket, ctx.key, upload_id); !u.ok()) {
    return ctx.Error(u.status());
  }
  auto parts = ParseCompleteMultipartUpload(body);
  if (!parts.ok()) return ctx.Error(parts.status());
  auto meta = ctx.store().CompleteUpload(ctx.bucket, ctx.key, upload_id, *parts,
                                         ctx.service->config().min_part_bytes, ctx.now());
  if (!meta.ok()) return ctx.Error(meta.status());
  XmlWriter x("CompleteMultipartUploadResult");
  x.Element("Location", "/" + ctx.bucket + "/" + ctx.key);
  x.Element("Bucket", ctx.bucket).Element("Key", ctx.key).Element("ETag", Quote(meta->etag));
  return XmlResponse(200, x.Finish());
}

S3Response AbortMultipartUpload(RequestContext& ctx) {
  core::Status st = ctx.store().AbortUpload(ctx.bucket, ctx.key, *ctx.Param("uploadId"));
  if (!st.ok()) return ctx.Error(st);
  return EmptyResponse(204);
}

}  // namespace s3rdma::proto::internal
