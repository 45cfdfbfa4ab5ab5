// The Prometheus endpoint: prometheus-cpp's Exposer (CivetWeb) serving
// collectables, with a prompt stop. CivetWeb's listener polls in 2-second
// quanta and its stop waits for the poll to return, so a plain destruction
// keeps SIGTERM waiting up to 2 s; we wake the poll with a connect of our own.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "model/address.h"

namespace prometheus {
class Collectable;
class Exposer;
}  // namespace prometheus

namespace hl {

class MetricsServer {
public:
    // listen: "ADDR:PORT" or "[V6]:PORT"; port 0 picks a free port.
    static Result<std::unique_ptr<MetricsServer>> start(const std::string& listen,
                                                        std::vector<std::shared_ptr<prometheus::Collectable>> what);
    ~MetricsServer();
    MetricsServer(const MetricsServer&) = delete;
    MetricsServer& operator=(const MetricsServer&) = delete;

    // "http://ADDR:PORT/metrics" with the port actually bound.
    std::string url() const;

private:
    MetricsServer() = default;
    std::unique_ptr<prometheus::Exposer> exposer_;
    std::vector<std::shared_ptr<prometheus::Collectable>> what_;
    std::string host_;  // as in the listen string, brackets kept for v6
    int port_ = 0;
    std::optional<IpAddress> wake_;  // what the stop connects to (wake_address)
};

}  // namespace hl
