#include <bufferpool/bufferpool.hpp>

#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <thread>

namespace bufferpool {
namespace {

TEST(AutoReleaseScope, DropsItsReferencesWhenItEnds) {
  BufferPool pool(make_host_backend());
  {
    AutoReleaseScope scope;
    scope.add(pool.get_buffer(100));
    scope.add(pool.get_buffer(5000));
    EXPECT_EQ(scope.size(), 2U);
    EXPECT_EQ(pool.metrics().buffers_in_use, 2U);
  }
  EXPECT_EQ(pool.metrics().buffers_in_use, 0U);
  EXPECT_EQ(pool.metrics().buffers_cached, 2U);
}

TEST(AutoReleaseScope, DropsItsReferencesWhenItEndsByAnException) {
  BufferPool pool(make_host_backend());
  EXPECT_THROW(
      {
        AutoReleaseScope scope;
        scope.add(pool.get_buffer(100));
        throw std::runtime_error("a step failed");
      },
      std::runtime_error);
  EXPECT_EQ(pool.metrics().buffers_in_use, 0U);
}

TEST(AutoReleaseScope, NestedScopesEachReleaseTheirOwn) {
  BufferPool pool(make_host_backend());
  AutoReleaseScope outer;
  auto kept = autorelease(pool.get_buffer(100));
  {
    AutoReleaseScope inner;
    EXPECT_EQ(AutoReleaseScope::innermost(), &inner);
    autorelease(pool.get_buffer(200));
    autorelease(pool.get_buffer(300));
    EXPECT_EQ(inner.size(), 2U);
    EXPECT_EQ(outer.size(), 1U);
  }
  EXPECT_EQ(AutoReleaseScope::innermost(), &outer);
  EXPECT_EQ(pool.metrics().buffers_in_use, 1U);
  EXPECT_EQ(kept.ref_count(), 2U) << "the handle and the outer scope";
}

TEST(AutoReleaseScope, AHandleKeptPastTheScopeKeepsTheBuffer) {
  BufferPool pool(make_host_backend());
  BufferRef kept;
  {
    AutoReleaseScope scope;
    kept = pool.get_buffer(100);
    scope.add(kept);
  }
  EXPECT_TRUE(kept);
  EXPECT_EQ(kept.ref_count(), 1U);
  EXPECT_EQ(pool.metrics().buffers_in_use, 1U);
}

TEST(AutoReleaseScope, AutoreleaseWithoutAScopeIsAClearError) {
  BufferPool pool(make_host_backend());
  ASSERT_EQ(AutoReleaseScope::innermost(), nullptr);
  try {
    (void)autorelease(pool.get_buffer(100));
    FAIL() << "expected UsageError";
  } catch (const UsageError& error) {
    EXPECT_NE(std::string(error.what()).find("no AutoReleaseScope open"), std::string::npos);
  }
  EXPECT_EQ(pool.metrics().buffers_in_use, 0U) << "the rejected buffer went back";
}

TEST(AutoReleaseScope, AddingAnEmptyHandleIsAnError) {
  AutoReleaseScope scope;
  EXPECT_THROW(scope.add(BufferRef{}), UsageError);
}

TEST(AutoReleaseScope, EachThreadHasItsOwnStack) {
  BufferPool pool(make_host_backend());
  AutoReleaseScope main_scope;
  AutoReleaseScope* seen_on_other_thread = &main_scope;
  bool add_from_other_thread_failed = false;
  std::thread other([&] {
    seen_on_other_thread = AutoReleaseScope::innermost();
    try {
      main_scope.add(pool.get_buffer(100));
    } catch (const UsageError&) {
      add_from_other_thread_failed = true;
    }
  });
  other.join();
  EXPECT_EQ(seen_on_other_thread, nullptr);
  EXPECT_TRUE(add_from_other_thread_failed);
  EXPECT_EQ(main_scope.size(), 0U);
}

TEST(AutoReleaseScope, HeapScopesEndingOutOfOrderLeaveTheStackIntact) {
  BufferPool pool(make_host_backend());
  auto outer = std::make_unique<AutoReleaseScope>();
  auto inner = std::make_unique<AutoReleaseScope>();
  outer->add(pool.get_buffer(100));
  outer.reset();  // ends before the scope nested in it
  EXPECT_EQ(AutoReleaseScope::innermost(), inner.get());
  autorelease(pool.get_buffer(200));
  inner.reset();
  EXPECT_EQ(AutoReleaseScope::innermost(), nullptr);
  EXPECT_EQ(pool.metrics().buffers_in_use, 0U);
}

TEST(AutoReleaseScope, DrainReleasesNowAndKeepsTheScopeOpen) {
  BufferPool pool(make_host_backend());
  AutoReleaseScope scope;
  autorelease(pool.get_buffer(100));
  scope.drain();
  EXPECT_EQ(pool.metrics().buffers_in_use, 0U);
  autorelease(pool.get_buffer(100));
  EXPECT_EQ(pool.metrics().hits, 1U);
}

}  // namespace
}  // namespace bufferpool
