// A control::Handler that records each call as one line of text and answers
// 200 {"ok": true}: what the router passed on, and that a bad request
// passed on nothing.
#pragma once

#include <string>
#include <vector>

#include "control/handler.h"

namespace hlt {

class FakeControlHandler : public hl::control::Handler {
public:
    std::vector<std::string> calls;
    hl::control::Reply answer = hl::control::Reply::ok({{"ok", true}});

    hl::control::Reply health() override { return note("health"); }
    hl::control::Reply list_services() override { return note("list_services"); }
    void put_service(const hl::Service& s, hl::control::Done done) override {
        done(note("put_service " + s.ns + "/" + s.name + " port=" + std::to_string(s.port) +
                  " backends=" + std::to_string(s.backends.size())));
    }
    void delete_service(const std::string& ns, const std::string& name, hl::control::Done done) override {
        done(note("delete_service " + ns + "/" + name));
    }
    hl::control::Reply list_endpoints(const std::string& ns, const std::string& name) override {
        return note("list_endpoints " + ns + "/" + name);
    }
    hl::control::Reply put_endpoint(const std::string& ns, const std::string& name, const std::string& id,
                                    const hl::control::EndpointSpec& e) override {
        return note("put_endpoint " + ns + "/" + name + " " + id + " " + e.address.with_port(e.port) +
                    " weight=" + std::to_string(e.weight) +
                    " ttl=" + (e.ttl_s ? std::to_string(*e.ttl_s) : std::string("none")));
    }
    hl::control::Reply heartbeat(const std::string& ns, const std::string& name, const std::string& id) override {
        return note("heartbeat " + ns + "/" + name + " " + id);
    }
    hl::control::Reply delete_endpoint(const std::string& ns, const std::string& name,
                                       const std::string& id) override {
        return note("delete_endpoint " + ns + "/" + name + " " + id);
    }
    hl::control::Reply attach_cgroup(const hl::control::CgroupSpec& c) override {
        return note("attach_cgroup " + what(c) + " ns=" + c.ns);
    }
    hl::control::Reply detach_cgroup(const hl::control::CgroupSpec& c) override {
        return note("detach_cgroup " + what(c));
    }
    hl::control::Reply backend_health() override { return note("backend_health"); }
    hl::control::Reply service_health(const std::string& ns, const std::string& name) override {
        return note("service_health " + ns + "/" + name);
    }

private:
    static std::string what(const hl::control::CgroupSpec& c) {
        return c.cgroup ? "cgroup=" + *c.cgroup : "pid=" + std::to_string(c.pid.value_or(-1));
    }
    hl::control::Reply note(std::string call) {
        calls.push_back(std::move(call));
        return answer;
    }
};

}  // namespace hlt
