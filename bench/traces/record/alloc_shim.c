// An LD_PRELOAD shim that logs PyTorch's CPU tensor allocations as RMM's
// logging_resource_adaptor CSV (Thread,Time,Action,Pointer,Size,Stream).
//
// c10::alloc_cpu, in libc10.so, is the only place in libc10 that calls
// posix_memalign (torch 1.13: with 64-byte alignment; later versions align
// large blocks to pages when transparent huge pages are on), and
// c10::free_cpu gives the memory back with free(). So the shim wraps those
// two functions and logs:
//   - a posix_memalign whose caller (the return address) lies inside
//     libc10.so: other libraries (oneDNN, OpenMP, Python) also call
//     posix_memalign, and their memory is not tensor storage;
//   - a free of a pointer that such a call returned, and no other free.
//
// Logging runs only between bufferpool_trace_start() and
// bufferpool_trace_stop(), which the recording script calls through ctypes,
// so that importing torch is left out and the trace holds the workload alone.
// The CSV goes to $BUFFERPOOL_TRACE_OUT, written at bufferpool_trace_stop(),
// at exit, or when the in-memory buffer fills, so that logging costs no
// system call per event and does not stretch the lifetimes it records.
//
// Like RMM's logger (spdlog pattern "%t,%H:%M:%S.%f,%v"): the thread is the
// OS thread id (gettid), the time is the wall clock's time of day with
// microseconds (UTC here: the shim must not call localtime, which may
// allocate), the pointer is hex, the stream is 0x0.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

// glibc's own functions, for the calls that come before dlsym has resolved
// the next ones (dlsym itself may free).
extern void __libc_free(void* pointer);
extern void* __libc_memalign(size_t alignment, size_t size_bytes);

typedef int (*posix_memalign_function)(void**, size_t, size_t);
typedef void (*free_function)(void*);

static posix_memalign_function next_posix_memalign;
static free_function next_free;

// The live tensor allocations, pointer -> size: an open-addressing hash table
// with linear probing and tombstones, in static memory so that the shim never
// allocates. 2^20 slots hold far more tensors than a recording has live.
enum { kSlotBits = 20, kSlotCount = 1 << kSlotBits };
static const uintptr_t kEmptySlot = 0;
static const uintptr_t kDeletedSlot = 1;
struct LiveSlot {
  uintptr_t pointer;
  size_t size_bytes;
};
static struct LiveSlot live_slots[kSlotCount];
static size_t live_count;
static size_t untracked_count;  // allocations past the table's capacity

// The CSV lines not yet written.
enum { kLogBufferBytes = 4 << 20 };
static char log_buffer[kLogBufferBytes];
static size_t log_used_bytes;
static int log_fd = -1;

static pthread_mutex_t shim_mutex = PTHREAD_MUTEX_INITIALIZER;
static int recording;  // guarded by shim_mutex

// libc10.so's loaded address range, found on its first call.
static uintptr_t c10_begin;
static uintptr_t c10_end;

// Set while the shim itself runs on this thread, so that a free made inside
// it (by dladdr or dl_iterate_phdr) is passed through, not logged.
static __thread int inside_shim;

static size_t slot_of(uintptr_t pointer) {
  // Tensor storage is 64-byte aligned: drop the zero bits, then mix.
  uint64_t hash = (uint64_t)(pointer >> 6) * 0x9E3779B97F4A7C15ULL;
  return (size_t)(hash >> (64 - kSlotBits));
}

// Returns 0 when the table is too full to probe well; the caller counts it.
static int live_insert(uintptr_t pointer, size_t size_bytes) {
  if (live_count + 1 >= kSlotCount / 2) return 0;
  size_t slot = slot_of(pointer);
  while (live_slots[slot].pointer != kEmptySlot && live_slots[slot].pointer != kDeletedSlot) {
    slot = (slot + 1) & (kSlotCount - 1);
  }
  live_slots[slot].pointer = pointer;
  live_slots[slot].size_bytes = size_bytes;
  ++live_count;
  return 1;
}

// Removes `pointer`; returns 1 and its size when it was there.
static int live_erase(uintptr_t pointer, size_t* size_bytes) {
  size_t slot = slot_of(pointer);
  while (live_slots[slot].pointer != kEmptySlot) {
    if (live_slots[slot].pointer == pointer) {
      live_slots[slot].pointer = kDeletedSlot;
      *size_bytes = live_slots[slot].size_bytes;
      --live_count;
      return 1;
    }
    slot = (slot + 1) & (kSlotCount - 1);
  }
  return 0;
}

static void flush_log(void) {
  size_t written = 0;
  while (log_fd >= 0 && written < log_used_bytes) {
    const ssize_t result = write(log_fd, log_buffer + written, log_used_bytes - written);
    if (result <= 0) {
      if (result < 0 && errno == EINTR) continue;
      break;
    }
    written += (size_t)result;
  }
  log_used_bytes = 0;
}

static void append_line(const char* action, uintptr_t pointer, size_t size_bytes) {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  const long seconds_of_day = (long)(now.tv_sec % 86400);
  const long thread_id = (long)syscall(SYS_gettid);
  if (log_used_bytes + 128 > kLogBufferBytes) flush_log();
  const int length =
      snprintf(log_buffer + log_used_bytes, kLogBufferBytes - log_used_bytes,
               "%ld,%02ld:%02ld:%02ld.%06ld,%s,0x%lx,%zu,0x0\n", thread_id, seconds_of_day / 3600,
               (seconds_of_day / 60) % 60, seconds_of_day % 60, now.tv_nsec / 1000, action,
               (unsigned long)pointer, size_bytes);
  if (length > 0) log_used_bytes += (size_t)length;
}

static int find_c10(struct dl_phdr_info* info, size_t size, void* data) {
  (void)size;
  const uintptr_t address = (uintptr_t)data;
  for (int header = 0; header < info->dlpi_phnum; ++header) {
    const ElfW(Phdr)* segment = &info->dlpi_phdr[header];
    if (segment->p_type != PT_LOAD || (segment->p_flags & PF_X) == 0) continue;
    const uintptr_t begin = info->dlpi_addr + segment->p_vaddr;
    const uintptr_t end = begin + segment->p_memsz;
    if (address >= begin && address < end) {
      if (strstr(info->dlpi_name, "libc10.so") != NULL) {
        c10_begin = begin;
        c10_end = end;
      }
      return 1;
    }
  }
  return 0;
}

// Whether `caller` is code in libc10.so. Runs with shim_mutex held.
static int called_from_c10(uintptr_t caller) {
  if (c10_begin != 0) return caller >= c10_begin && caller < c10_end;
  dl_iterate_phdr(find_c10, (void*)caller);
  return c10_begin != 0 && caller >= c10_begin && caller < c10_end;
}

__attribute__((constructor)) static void shim_init(void) {
  inside_shim = 1;
  next_posix_memalign = (posix_memalign_function)dlsym(RTLD_NEXT, "posix_memalign");
  next_free = (free_function)dlsym(RTLD_NEXT, "free");
  const char* path = getenv("BUFFERPOOL_TRACE_OUT");
  if (path != NULL) {
    log_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    static const char kHeader[] = "Thread,Time,Action,Pointer,Size,Stream\n";
    if (log_fd >= 0 && write(log_fd, kHeader, sizeof kHeader - 1) < 0) log_fd = -1;
  }
  inside_shim = 0;
}

__attribute__((destructor)) static void shim_finish(void) {
  pthread_mutex_lock(&shim_mutex);
  recording = 0;
  flush_log();
  if (untracked_count != 0) {
    char message[128];
    const int length = snprintf(message, sizeof message,
                                "alloc_shim: %zu allocations not logged (table full)\n",
                                untracked_count);
    if (length > 0 && write(STDERR_FILENO, message, (size_t)length) < 0) untracked_count = 0;
  }
  if (log_fd >= 0) close(log_fd);
  log_fd = -1;
  pthread_mutex_unlock(&shim_mutex);
}

// Starts logging; called by the recording script through ctypes.
__attribute__((visibility("default"))) void bufferpool_trace_start(void) {
  pthread_mutex_lock(&shim_mutex);
  recording = log_fd >= 0;
  pthread_mutex_unlock(&shim_mutex);
}

// Stops logging and writes what is buffered. Frees of pointers logged before
// are no longer logged either: the trace ends here.
__attribute__((visibility("default"))) void bufferpool_trace_stop(void) {
  pthread_mutex_lock(&shim_mutex);
  recording = 0;
  flush_log();
  pthread_mutex_unlock(&shim_mutex);
}

__attribute__((visibility("default"))) int posix_memalign(void** result, size_t alignment,
                                                          size_t size_bytes) {
  if (next_posix_memalign == NULL) {
    // Before the constructor ran: glibc's memalign does the same for the
    // power-of-two alignments posix_memalign accepts.
    void* memory = __libc_memalign(alignment, size_bytes);
    if (memory == NULL) return ENOMEM;
    *result = memory;
    return 0;
  }
  const uintptr_t caller = (uintptr_t)__builtin_return_address(0);
  const int status = next_posix_memalign(result, alignment, size_bytes);
  if (inside_shim) return status;
  inside_shim = 1;
  pthread_mutex_lock(&shim_mutex);
  if (recording && called_from_c10(caller)) {
    if (status != 0) {
      append_line("allocate failure", 0, size_bytes);
    } else if (live_insert((uintptr_t)*result, size_bytes)) {
      append_line("allocate", (uintptr_t)*result, size_bytes);
    } else {
      ++untracked_count;
    }
  }
  pthread_mutex_unlock(&shim_mutex);
  inside_shim = 0;
  return status;
}

__attribute__((visibility("default"))) void free(void* pointer) {
  if (pointer != NULL && !inside_shim) {
    inside_shim = 1;
    pthread_mutex_lock(&shim_mutex);
    size_t size_bytes = 0;
    // RMM logs a free with the size given to deallocate, the allocation's;
    // free() is not told it, so the table keeps it.
    if (live_count != 0 && live_erase((uintptr_t)pointer, &size_bytes) && recording) {
      append_line("free", (uintptr_t)pointer, size_bytes);
    }
    pthread_mutex_unlock(&shim_mutex);
    inside_shim = 0;
  }
  if (next_free != NULL) {
    next_free(pointer);
  } else {
    __libc_free(pointer);
  }
}
