#include "runtime/core/timer_tree.hpp"

namespace ngxlite::runtime {

void Timeout::arm(Clock::duration after) {
    const auto deadline = Clock::now() + after;
    // As nginx's ngx_add_timer (NGX_TIMER_LAZY_DELAY): a deadline within 300 ms of the
    // one already set is left as it is. Busy connections re-arm on every read and write;
    // moving the node each time was most of the tree's cost.
    constexpr auto kLazyDelay = std::chrono::milliseconds(300);
    if (is_linked() && deadline - deadline_ < kLazyDelay && deadline_ - deadline < kLazyDelay) return;
    unlink();
    deadline_ = deadline;
    tree_->insert(*this);
}

void TimerTree::attach(boost::asio::steady_timer* timer) {
    timer_ = timer;
    armed_ = Timeout::Clock::time_point::max();
    if (timer_ && !tree_.empty()) wait();
}

std::size_t TimerTree::size() const { return tree_.size(); }

void TimerTree::stop_waiting() {
    if (!tree_.empty() || !timer_) return;
    timer_->cancel();
    armed_ = Timeout::Clock::time_point::max();
}

void TimerTree::insert(Timeout& t) {
    tree_.insert(t);
    // Most deadlines are later than the earliest (same timeouts, armed later): no re-arm.
    if (timer_ && t.deadline_ < armed_) wait();
}

void TimerTree::wait() {
    armed_ = tree_.begin()->deadline_;
    timer_->expires_at(armed_);
    timer_->async_wait([this, generation = ++generation_](const boost::system::error_code& ec) {
        if (!ec && generation == generation_) fire();
    });
}

void TimerTree::fire() {
    armed_ = Timeout::Clock::time_point::max();
    const auto now = Timeout::Clock::now();
    // Each expiry may arm or disarm others; take the earliest afresh every time.
    while (!tree_.empty() && tree_.begin()->deadline_ <= now) {
        Timeout& t = *tree_.begin();
        t.unlink();
        t.expired();
    }
    if (timer_ && !tree_.empty() && tree_.begin()->deadline_ < armed_) wait();
}

}  // namespace ngxlite::runtime
