#include "proto/fs_env.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

namespace s3rdma::proto {
namespace {

core::Status Errno(const std::string& what, int err) {
  const std::string msg = what + ": " + std::strerror(err);
  if (err == ENOENT || err == ENOTDIR) return core::Status::NotFound(msg);
  if (err == EEXIST) return core::Status::AlreadyExists(msg);
  return core::Status::IOError(msg);
}

class PosixFile final : public FsFile {
 public:
  PosixFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixFile() override { ::close(fd_); }

  core::Status Append(std::string_view data) override {
    while (!data.empty()) {
      const ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return Errno("write " + path_, errno);
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return core::Status::Ok();
  }
  core::Result<size_t> PRead(uint64_t offset, char* dst, size_t len) override {
    size_t done = 0;
    while (done < len) {
      const ssize_t n = ::pread(fd_, dst + done, len - done, static_cast<off_t>(offset + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return Errno("pread " + path_, errno);
      }
      if (n == 0) break;
      done += static_cast<size_t>(n);
    }
    return done;
  }
  core::Result<uint64_t> Size() override {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) return Errno("fstat " + path_, errno);
    return static_cast<uint64_t>(st.st_size);
  }
  core::Status Sync() override {
    if (::fsync(fd_) != 0) return Errno("fsync " + path_, errno);
    return core::Status::Ok();
  }
  int NativeFd() const override { return fd_; }

 private:
  int fd_;
  std::string path_;
};

}  // namespace

core::Result<std::unique_ptr<FsFile>> PosixFsEnv::CreateFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("create " + path, errno);
  return std::unique_ptr<FsFile>(new PosixFile(fd, path));
}

core::Result<std::unique_ptr<FsFile>> PosixFsEnv::OpenFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Errno("open " + path, errno);
  return std::unique_ptr<FsFile>(new PosixFile(fd, path));
}

core::Status PosixFsEnv::CreateDir(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) != 0) return Errno("mkdir " + path, errno);
  return core::Status::Ok();
}

core::Status PosixFsEnv::CreateDirs(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return core::Status::IOError("create " + path + ": " + ec.message());
  return core::Status::Ok();
}

core::Result<std::vector<FsDirEntry>> PosixFsEnv::ListDir(const std::string& path) {
  DIR* d = ::opendir(path.c_str());
  if (d == nullptr) return Errno("opendir " + path, errno);
  std::vector<FsDirEntry> out;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    bool is_dir = e->d_type == DT_DIR;
    if (e->d_type == DT_UNKNOWN) {
      struct stat st {};
      is_dir = ::stat((path + "/" + name).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
    }
    out.push_back({name, is_dir});
  }
  ::closedir(d);
  std::sort(out.begin(), out.end(),
            [](const FsDirEntry& a, const FsDirEntry& b) { return a.name < b.name; });
  return out;
}

core::Status PosixFsEnv::Rename(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) return Errno("rename " + from + " " + to, errno);
  return core::Status::Ok();
}

core::Status PosixFsEnv::Unlink(const std::string& path) {
  if (::unlink(path.c_str()) != 0) return Errno("unlink " + path, errno);
  return core::Status::Ok();
}

core::Status PosixFsEnv::RemoveAll(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  if (ec) return core::Status::IOError("remove " + path + ": " + ec.message());
  return core::Status::Ok();
}

core::Status PosixFsEnv::SyncDir(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno("open " + path, errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return Errno("fsync " + path, err);
  return core::Status::Ok();
}

bool PosixFsEnv::Exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

FsEnv& DefaultFsEnv() {
  static PosixFsEnv env;
  return env;
}

std::string ParentPath(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  const size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) return ".";
  if (slash == 0) return "/";
  return std::string(path.substr(0, slash));
}

}  // namespace s3rdma::proto
