#include "fitting/parallel.h"

#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include <glog/logging.h>

namespace sims::fitting {

void SilenceCeres(bool verbose) {
  // Ceres' line search reports failed steps through glog warnings; they are expected on
  // starts far from any optimum and would bury the output. --log-level debug brings them back.
  // Without InitGoogleLogging glog writes to stderr, so the level is all that matters.
  // Written only on change, so solver threads calling this concurrently only read it.
  const int level = verbose ? google::GLOG_INFO : google::GLOG_FATAL;
  if (FLAGS_minloglevel != level) FLAGS_minloglevel = level;
}

int ThreadCount(int requested) {
  if (requested > 0) return requested;
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

void ParallelFor(size_t n, int threads, const std::function<void(size_t)>& task) {
  std::atomic<size_t> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto worker = [&] {
    for (size_t i = next++; i < n; i = next++) {
      try {
        task(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
        next = n;  // stop handing out work
      }
    }
  };
  const int count = static_cast<int>(std::min<size_t>(threads < 1 ? 1 : threads, n));
  if (count <= 1) {
    worker();
  } else {
    std::vector<std::thread> pool;
    for (int t = 0; t < count; ++t) pool.emplace_back(worker);
    for (std::thread& t : pool) t.join();
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace sims::fitting
