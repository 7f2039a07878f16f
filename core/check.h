// Invariant checks that stay on in release builds.
//
// A broken invariant is a bug in s3rdma, never an input error: bad input is reported
// through Status. S3_CHECK aborts with the file, line, condition and message.
#ifndef S3RDMA_CORE_CHECK_H_
#define S3RDMA_CORE_CHECK_H_

#include <string>

namespace s3rdma::core {

[[noreturn]] void CheckFailed(const char* file, int line, const char* condition,
                              const std::string& message);

}  // namespace s3rdma::core

#define S3_CHECK(cond)                                                     \
  do {                                                                     \
    if (__builtin_expect(!(cond), 0))                                      \
      ::s3rdma::core::CheckFailed(__FILE__, __LINE__, #cond, std::string()); \
  } while (0)

#define S3_CHECK_MSG(cond, msg)                                        \
  do {                                                                 \
    if (__builtin_expect(!(cond), 0))                                  \
      ::s3rdma::core::CheckFailed(__FILE__, __LINE__, #cond, (msg));   \
  } while (0)

#endif  // S3RDMA_CORE_CHECK_H_
