#include "app/server/connection_pool.h"

#include <algorithm>
#include <system_error>
#include <utility>

namespace kvscope::server {

ConnectionPool::ConnectionPool(ConnectionPoolOptions options)
    : max_threads_(std::max<std::size_t>(1, options.max_threads)),
      warm_threads_(std::clamp<std::size_t>(options.warm_threads, 1, max_threads_)),
      idle_timeout_(options.idle_timeout) {
    try {
        const std::lock_guard<std::mutex> lock(m_);
        while (threads_.size() < warm_threads_) spawn_locked();
    } catch (...) {
        shutdown();
        throw;
    }
}

ConnectionPool::~ConnectionPool() {
    shutdown();
}

// m_ held. The new thread starts by taking m_, so it finds itself in threads_.
void ConnectionPool::spawn_locked() {
    const std::size_t id = next_id_++;
    threads_.emplace(id, std::thread(&ConnectionPool::work, this, id));
    ++num_starting_;
}

void ConnectionPool::enqueue(std::function<void()> task) {
    join_retired();
    {
        std::unique_lock<std::mutex> lock(m_);
        if (stopping_) {
            lock.unlock();
            task();  // httplib enqueues nothing after shutdown; should it, the connection is still served
            return;
        }
        queue_.push_back(std::move(task));
        // A thread for every task that no idle or starting thread will take, while the limit allows.
        if (queue_.size() > num_idle_ + num_starting_ && threads_.size() < max_threads_) {
            try {
                spawn_locked();
            } catch (const std::system_error&) {
                // The system's thread limit: the task waits for a running thread.
            }
        }
    }
    work_ready_.notify_one();
}

void ConnectionPool::work(std::size_t id) {
    std::unique_lock<std::mutex> lock(m_);
    --num_starting_;
    for (;;) {
        if (!queue_.empty()) {
            std::function<void()> task = std::move(queue_.front());
            queue_.pop_front();
            lock.unlock();
            task();
            task = nullptr;  // the connection's state goes before the lock is taken again
            lock.lock();
            continue;
        }
        if (stopping_) return;  // shutdown() joins it
        ++num_idle_;
        const bool woken = work_ready_.wait_for(lock, idle_timeout_, [this] { return !queue_.empty() || stopping_; });
        --num_idle_;
        if (!woken && threads_.size() > warm_threads_) {
            // Idle too long beyond the warm ones: hand this thread's handle over to be joined.
            const auto it = threads_.find(id);
            if (it == threads_.end()) return;
            retired_.push_back(std::move(it->second));
            threads_.erase(it);
            return;
        }
    }
}

void ConnectionPool::join_retired() {
    std::vector<std::thread> ended;
    {
        const std::lock_guard<std::mutex> lock(m_);
        ended.swap(retired_);
    }
    for (std::thread& t : ended) t.join();
}

void ConnectionPool::shutdown() {
    {
        const std::lock_guard<std::mutex> lock(m_);
        stopping_ = true;
    }
    work_ready_.notify_all();
    // The threads run what is queued, then end; none is started from now on.
    for (;;) {
        std::vector<std::thread> running;
        {
            const std::lock_guard<std::mutex> lock(m_);
            for (auto& [id, t] : threads_) running.push_back(std::move(t));
            threads_.clear();
            for (std::thread& t : retired_) running.push_back(std::move(t));
            retired_.clear();
        }
        if (running.empty()) return;
        for (std::thread& t : running) t.join();
    }
}

std::size_t ConnectionPool::num_threads() const {
    const std::lock_guard<std::mutex> lock(m_);
    return threads_.size();
}

std::size_t ConnectionPool::num_idle() const {
    const std::lock_guard<std::mutex> lock(m_);
    return num_idle_;
}

std::size_t ConnectionPool::num_queued() const {
    const std::lock_guard<std::mutex> lock(m_);
    return queue_.size();
}

}  // namespace kvscope::server
