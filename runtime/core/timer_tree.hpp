// A worker's timeouts kept as nginx keeps them: one tree of deadlines ordered by time
// and one Asio timer armed to the earliest. A connection's timeout is then a tree node
// inside the connection, not a timer object with a pending wait of its own (which cost
// an allocation per arming and most of an idle connection's memory).
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <boost/intrusive/set.hpp>

#include <chrono>

namespace ngxlite::runtime {

class TimerTree;

// One deadline; `expired` runs on the worker's thread once it has passed. Unlinks itself
// when destroyed.
class Timeout : public boost::intrusive::set_base_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>,
                                                      boost::intrusive::optimize_size<true>> {
public:
    using Clock = std::chrono::steady_clock;

    explicit Timeout(TimerTree& tree) : tree_(&tree) {}
    Timeout(const Timeout&) = delete;
    Timeout& operator=(const Timeout&) = delete;

    void arm(Clock::duration after);
    void disarm() { unlink(); }
    TimerTree& tree() const { return *tree_; }

protected:
    ~Timeout() = default;

private:
    friend class TimerTree;
    virtual void expired() = 0;

    TimerTree* tree_;
    Clock::time_point deadline_{};
};

class TimerTree {
public:
    TimerTree() = default;
    TimerTree(const TimerTree&) = delete;
    TimerTree& operator=(const TimerTree&) = delete;

    // The timer that wakes the worker; the tree is usable once it has one. Detached
    // (nullptr) before the timer goes, while timeouts may still be destroyed.
    void attach(boost::asio::steady_timer* timer);
    std::size_t size() const;
    // No wait left pending once no deadline is (a worker's io_context then runs dry).
    void stop_waiting();

private:
    friend class Timeout;
    struct Earlier {
        bool operator()(const Timeout& a, const Timeout& b) const { return a.deadline_ < b.deadline_; }
    };
    void insert(Timeout& t);
    void wait();
    void fire();

    boost::intrusive::multiset<Timeout, boost::intrusive::compare<Earlier>, boost::intrusive::constant_time_size<false>> tree_;
    boost::asio::steady_timer* timer_ = nullptr;
    Timeout::Clock::time_point armed_ = Timeout::Clock::time_point::max();  // what timer_ waits for
    std::uint64_t generation_ = 0;  // a wait superseded by an earlier deadline is ignored
};

}  // namespace ngxlite::runtime
