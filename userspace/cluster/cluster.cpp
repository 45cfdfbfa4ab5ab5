#include "cluster/cluster.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <fstream>
#include <random>

#include "common/unique_fd.h"
#include "discovery/etcd_layout.h"
#include "model/validate.h"

namespace hl::cluster {

namespace layout = etcd_layout;

Result<std::string> host_name(const EtcdConfig& cfg) {
    if (!cfg.host.empty()) return cfg.host;
    char buf[HOST_NAME_MAX + 1] = {};
    if (::gethostname(buf, sizeof buf - 1) != 0) return sys_error("etcd.host: not set, and gethostname failed");
    std::string h = buf;
    if (!valid_name(h))
        return Error{"etcd.host: not set, and the hostname '" + h +
                     "' is not a name (1-63 of A-Z a-z 0-9 - _ .): set etcd.host"};
    return h;
}

std::string instance_id(const std::string& state_dir) {
    const std::string path = state_dir + "/etcd-instance";
    std::string id;
    if (std::ifstream in(path); in && std::getline(in, id) && id.size() >= 8 && id.size() <= 64) return id;
    std::random_device rd;
    id = fmt::format("{:08x}{:08x}", rd(), rd());
    ::mkdir(state_dir.c_str(), 0700);
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    std::string line = id + "\n";
    if (!fd || ::write(fd.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size()))
        spdlog::warn("etcd: cannot keep this daemon's instance id in {} ({}): a restart will not adopt its lease",
                     path, std::strerror(errno));
    return id;
}

Result<std::unique_ptr<Cluster>> Cluster::create(boost::asio::io_context& io, const EtcdConfig& cfg,
                                                 const std::string& state_dir, Registry& reg, EtcdCounters& counters,
                                                 EtcdSource::Changed changed) {
    auto host = host_name(cfg);
    if (!host) return host.error();
    etcd::ClientOptions co;
    co.endpoints = cfg.endpoints;
    // A write stuck in a member that lost its leader fails after this, and
    // is retried (publisher) or answered 503 (a definition): not too long.
    co.request_timeout = std::chrono::seconds(2);
    // A stopped or cut-off member keeps its connections open and silent:
    // found within two of these (the watch asks for progress when idle).
    co.watch_check_interval = std::chrono::milliseconds(1000);
    co.connect_timeout = std::chrono::milliseconds(1000);
    auto client = etcd::EtcdClient::create(io, co);
    if (!client) return client.error();
    std::unique_ptr<Cluster> c(new Cluster());
    c->host_ = *host;
    c->prefix_ = layout::normalize_prefix(cfg.prefix);
    c->client_ = std::move(*client);
    counters.configured = true;
    EtcdSource::Options so;
    so.prefix = c->prefix_;
    so.self_host = c->host_;
    so.cache_path = state_dir + "/etcd.cache";
    c->source_ = std::make_unique<EtcdSource>(io, *c->client_, reg, so, counters, std::move(changed));
    Publisher::Options po;
    po.prefix = c->prefix_;
    po.host = c->host_;
    po.instance = instance_id(state_dir);
    po.lease_ttl = cfg.lease_ttl_s;
    c->publisher_ = std::make_unique<Publisher>(io, *c->client_, reg, po, counters);
    return c;
}

Cluster::~Cluster() {
    client_.reset();  // first: no callback into the source or the publisher after this
    source_->save_cache();  // what the next start serves until etcd answers
}

void Cluster::start() {
    source_->load_cache();
    spdlog::info("etcd: host {}, prefix {}/v1/, endpoints {}", host_, prefix_ == "/" ? "" : prefix_,
                 client_->current_endpoint());
    source_->start();
    publisher_->start();
}

void Cluster::put_service(const Service& s, int64_t seen_revision, etcd::Callback<etcd::CasResult> cb) {
    std::string key = layout::service_key(prefix_, s.ns, s.name);
    std::string value = layout::service_value(s);
    if (seen_revision == 0)
        client_->create_if_absent(std::move(key), std::move(value), 0, std::move(cb));
    else
        client_->update_if_unchanged(std::move(key), std::move(value), seen_revision, 0, std::move(cb));
}

void Cluster::delete_service(const Registry::Name& n, int64_t seen_revision, etcd::Callback<etcd::CasResult> cb) {
    client_->delete_if_unchanged(layout::service_key(prefix_, n.first, n.second), seen_revision, std::move(cb));
}

}  // namespace hl::cluster
