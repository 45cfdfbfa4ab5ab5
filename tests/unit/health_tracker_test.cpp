// Backend health's rules (userspace/health/tracker.h): thresholds of the
// active checks, ejections (time growing with each, capped at 300 s, never
// more than max_ejection_percent at once, one always), and state kept across
// a service's redefinition, dropped with a backend that leaves.
#include "health/tracker.h"

#include <gtest/gtest.h>

namespace {

using namespace hl::health;
using std::chrono::milliseconds;
using std::chrono::seconds;

const Name kWeb{"default", "web"};

Endpoint ep(int i) { return {*hl::IpAddress::parse("10.0.0." + std::to_string(i)), 8080}; }

struct HealthTracker : ::testing::Test {
    hl::HealthCheck check;
    hl::OutlierDetection outlier;
    Tracker t;
    const Clock::time_point t0 = Clock::time_point{} + seconds(1000);

    HealthTracker() {
        check.unhealthy_threshold = 3;
        check.healthy_threshold = 2;
        outlier.consecutive_failures = 5;
        outlier.base_ejection_time_ms = 30000;
        outlier.max_ejection_percent = 50;
    }
    // Backends 1..n with ids 100+i.
    TrackedService svc(int n, bool with_check = true, bool with_outlier = true, uint32_t id = 7) {
        TrackedService s;
        s.name = kWeb;
        s.id = id;
        s.check = with_check ? &check : nullptr;
        s.outlier = with_outlier ? &outlier : nullptr;
        for (int i = 1; i <= n; ++i) s.backends.push_back({ep(i), static_cast<uint32_t>(100 + i)});
        return s;
    }
    std::optional<Change> probe(int i, bool ok) {
        ProbeResult r;
        r.ok = ok;
        r.detail = ok ? "HTTP 200" : "connection refused";
        return t.probe_result(kWeb, ep(i), r, WallClock::now());
    }
    std::optional<Ejection> fail(int i, uint32_t count, Clock::time_point now, uint32_t service_id = 7) {
        hl_connect_failure ev{};
        ev.service_id = service_id;
        ev.backend_id = static_cast<uint32_t>(100 + i);
        ev.consecutive_failures = count;
        ev.reason = HL_REASON_REFUSED;
        return t.connect_failure(ev, now);
    }
    const BackendHealth& b(int i) { return t.find(kWeb)->backends.at(ep(i)); }
};

TEST_F(HealthTracker, UnhealthyAfterThresholdFailuresInARowHealthyAfterThresholdPasses) {
    EXPECT_TRUE(t.update(svc(2), t0).empty());
    EXPECT_TRUE(b(1).healthy()) << "a new backend starts healthy";
    EXPECT_FALSE(probe(1, false));
    EXPECT_FALSE(probe(1, false));
    EXPECT_FALSE(probe(1, true)) << "a pass resets the count";
    EXPECT_FALSE(probe(1, false));
    EXPECT_FALSE(probe(1, false));
    auto c = probe(1, false);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->endpoint, ep(1));
    EXPECT_FALSE(c->healthy);
    EXPECT_EQ(b(1).failures, 3u);
    EXPECT_EQ(b(1).last->result.detail, "connection refused");
    EXPECT_FALSE(probe(1, false)) << "no change: already unhealthy";
    EXPECT_FALSE(probe(1, true));
    EXPECT_FALSE(probe(1, false)) << "a failure resets the passes";
    EXPECT_FALSE(probe(1, true));
    c = probe(1, true);
    ASSERT_TRUE(c);
    EXPECT_TRUE(c->healthy);
    EXPECT_TRUE(b(2).healthy());
}

TEST_F(HealthTracker, AnInconclusiveProbeMovesNoCount) {
    (void)t.update(svc(1), t0);
    EXPECT_FALSE(probe(1, false));
    ProbeResult r;
    r.inconclusive = true;
    r.detail = "health_check.netns: cannot open /run/netns/x";
    EXPECT_FALSE(t.probe_result(kWeb, ep(1), r, WallClock::now()));
    EXPECT_EQ(b(1).failures, 1u);
    EXPECT_EQ(b(1).last->result.detail, r.detail);
}

TEST_F(HealthTracker, EjectionTimeGrowsWithEachEjectionAndIsCappedAt300s) {
    EXPECT_EQ(ejection_time(outlier, 1), seconds(30));
    EXPECT_EQ(ejection_time(outlier, 2), seconds(60));
    EXPECT_EQ(ejection_time(outlier, 10), seconds(300));
    EXPECT_EQ(ejection_time(outlier, 4000000000u), seconds(300)) << "no overflow";

    (void)t.update(svc(2), t0);
    EXPECT_FALSE(fail(1, 4, t0)) << "below consecutive_failures";
    EXPECT_EQ(b(1).connect_failures, 4u);
    auto e = fail(1, 5, t0);
    ASSERT_TRUE(e);
    EXPECT_TRUE(e->flag_changed);
    EXPECT_FALSE(e->change.healthy);
    EXPECT_EQ(e->backend_id, 101u);
    EXPECT_EQ(e->duration, seconds(30));
    EXPECT_EQ(e->nth, 1u);
    EXPECT_FALSE(fail(1, 6, t0)) << "an ejected backend is not ejected again";
    EXPECT_EQ(t.next_ejection_end(), t0 + seconds(30));
    EXPECT_TRUE(t.end_ejections(t0 + seconds(29)).empty());
    auto back = t.end_ejections(t0 + seconds(30));
    ASSERT_EQ(back.size(), 1u);
    EXPECT_TRUE(back[0].healthy);
    EXPECT_EQ(b(1).connect_failures, 0u);
    EXPECT_FALSE(t.next_ejection_end());

    // Second ejection: twice as long; then capped.
    auto t1 = t0 + seconds(100);
    e = fail(1, 5, t1);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->duration, seconds(60));
    for (uint32_t n = 3; n <= 12; ++n) {
        (void)t.end_ejections(t1 + seconds(300));
        t1 += seconds(1000);
        e = fail(1, 5, t1);
        ASSERT_TRUE(e);
        EXPECT_EQ(e->duration, std::min<milliseconds>(seconds(30) * n, seconds(300))) << "ejection " << n;
    }
}

TEST_F(HealthTracker, NeverMoreThanMaxEjectionPercentAtOnceButOneAlways) {
    EXPECT_TRUE(may_eject(outlier, 0, 1)) << "one may always be ejected";
    EXPECT_FALSE(may_eject(outlier, 1, 2)) << "50% of 2 is one";
    EXPECT_TRUE(may_eject(outlier, 1, 4));
    EXPECT_FALSE(may_eject(outlier, 2, 4));
    EXPECT_FALSE(may_eject(outlier, 1, 3)) << "two of three is more than 50%";
    hl::OutlierDetection none = outlier;
    none.max_ejection_percent = 0;
    EXPECT_TRUE(may_eject(none, 0, 10));
    EXPECT_FALSE(may_eject(none, 1, 10));
    hl::OutlierDetection all = outlier;
    all.max_ejection_percent = 100;
    EXPECT_TRUE(may_eject(all, 2, 3));

    (void)t.update(svc(4), t0);
    ASSERT_TRUE(fail(1, 5, t0));
    auto e = fail(2, 5, t0);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->ejected_now, 2u);
    EXPECT_EQ(e->backends, 4u);
    EXPECT_FALSE(fail(3, 5, t0)) << "a third of four would be 75%";
    EXPECT_FALSE(b(3).ejected);
    // One comes back: the third may go now (its next event says so).
    (void)t.end_ejections(t0 + seconds(30));
    EXPECT_TRUE(fail(3, 6, t0 + seconds(31)));
}

TEST_F(HealthTracker, EventsOfAnotherServiceOrAnUnknownBackendAreIgnored) {
    (void)t.update(svc(2), t0);
    EXPECT_FALSE(fail(1, 5, t0, /*service_id=*/8)) << "the id belongs to another service now";
    hl_connect_failure ev{};
    ev.service_id = 7;
    ev.backend_id = 999;
    ev.consecutive_failures = 50;
    EXPECT_FALSE(t.connect_failure(ev, t0));
    // Without outlier_detection, events eject nothing.
    (void)t.update(svc(2, true, false), t0);
    EXPECT_FALSE(fail(1, 50, t0));
}

TEST_F(HealthTracker, AnEjectedBackendFailingItsChecksStaysUnhealthyAfterTheEjection) {
    (void)t.update(svc(2), t0);
    for (int i = 0; i < 3; ++i) (void)probe(1, false);
    EXPECT_FALSE(b(1).healthy());
    auto e = fail(1, 5, t0);
    ASSERT_TRUE(e);
    EXPECT_FALSE(e->flag_changed) << "its checks held it unhealthy already";
    EXPECT_TRUE(t.end_ejections(t0 + seconds(30)).empty()) << "its checks still fail";
    (void)probe(1, true);
    auto c = probe(1, true);
    ASSERT_TRUE(c);
    EXPECT_TRUE(c->healthy);
}

TEST_F(HealthTracker, HealthSurvivesARedefinitionAndLeavesWithItsBackend) {
    (void)t.update(svc(3), t0);
    for (int i = 0; i < 3; ++i) (void)probe(2, false);
    ASSERT_TRUE(fail(3, 5, t0));
    // A reload that changes the check's interval and adds backend 4.
    check.interval_ms = 500;
    auto changes = t.update(svc(4), t0 + seconds(1));
    EXPECT_TRUE(changes.empty());
    EXPECT_FALSE(b(2).healthy());
    EXPECT_EQ(b(2).failures, 3u);
    EXPECT_TRUE(b(3).ejected);
    EXPECT_EQ(b(3).ejections, 1u);
    EXPECT_TRUE(b(4).healthy());
    EXPECT_EQ(t.find(kWeb)->check->interval_ms, 500u);
    auto sick = t.unhealthy(kWeb);
    ASSERT_EQ(sick.size(), 2u);

    // Backends 2 and 3 leave: reported healthy (so the registry drops their
    // flags), and forgotten: back later, they start afresh.
    changes = t.update(svc(1), t0 + seconds(2));
    ASSERT_EQ(changes.size(), 2u);
    EXPECT_EQ(changes[0].endpoint, ep(2));
    EXPECT_TRUE(changes[0].healthy);
    EXPECT_EQ(changes[1].endpoint, ep(3));
    EXPECT_FALSE(t.next_ejection_end()) << "its ejection went with it";
    (void)t.update(svc(3), t0 + seconds(3));
    EXPECT_TRUE(b(2).healthy());
    EXPECT_EQ(b(2).failures, 0u);
    EXPECT_EQ(b(3).ejections, 0u);
}

TEST_F(HealthTracker, AProducerRemovedFromTheConfigTakesItsVerdictWithIt) {
    (void)t.update(svc(2), t0);
    for (int i = 0; i < 3; ++i) (void)probe(1, false);
    ASSERT_TRUE(fail(2, 5, t0));
    auto changes = t.update(svc(2, /*check=*/false, /*outlier=*/true), t0);
    ASSERT_EQ(changes.size(), 1u);
    EXPECT_EQ(changes[0].endpoint, ep(1));
    EXPECT_TRUE(changes[0].healthy);
    EXPECT_TRUE(b(2).ejected);
    changes = t.update(svc(2, true, false), t0);
    ASSERT_EQ(changes.size(), 1u);
    EXPECT_EQ(changes[0].endpoint, ep(2));
    EXPECT_FALSE(t.next_ejection_end());
    // Neither: the service is not tracked at all.
    changes = t.update(svc(2, false, false), t0);
    EXPECT_TRUE(changes.empty());
    EXPECT_FALSE(t.find(kWeb));
}

TEST_F(HealthTracker, RemovingAServiceReportsItsUnhealthyBackendsHealthy) {
    (void)t.update(svc(2), t0);
    ASSERT_TRUE(fail(1, 5, t0));
    auto changes = t.remove(kWeb);
    ASSERT_EQ(changes.size(), 1u);
    EXPECT_TRUE(changes[0].healthy);
    EXPECT_FALSE(t.next_ejection_end());
    EXPECT_FALSE(fail(2, 5, t0)) << "its ids are unknown now";
}

TEST_F(HealthTracker, FailOpenIsCountedOnEachStart) {
    (void)t.update(svc(2), t0);
    EXPECT_EQ(t.set_fail_open(kWeb, false), 0);
    EXPECT_EQ(t.set_fail_open(kWeb, true), 1);
    EXPECT_EQ(t.set_fail_open(kWeb, true), 0);
    EXPECT_EQ(t.set_fail_open(kWeb, false), -1);
    EXPECT_EQ(t.set_fail_open(kWeb, true), 1);
    EXPECT_EQ(t.find(kWeb)->fail_opens, 2u);
    EXPECT_EQ(t.set_fail_open({"default", "other"}, true), 0) << "an untracked service";
}

TEST_F(HealthTracker, ABackendTheLastDaemonQuarantinedStartsUnhealthy) {
    auto s = svc(2);
    s.backends[0].was_quarantined = true;
    auto changes = t.update(s, t0);
    ASSERT_EQ(changes.size(), 1u);
    EXPECT_FALSE(changes[0].healthy);
    EXPECT_FALSE(b(1).checks_ok);
    EXPECT_EQ(b(1).failures, 3u);
    EXPECT_FALSE(probe(1, true));
    ASSERT_TRUE(probe(1, true)) << "healthy_threshold passes bring it back";
    // Known already: the flag no longer matters.
    s.backends[1].was_quarantined = true;
    EXPECT_TRUE(t.update(s, t0).empty());
    EXPECT_TRUE(b(2).healthy());
    // Outlier detection alone: ejected for base_ejection_time, not counted.
    Tracker t2;
    auto o = svc(1, false, true);
    o.backends[0].was_quarantined = true;
    ASSERT_EQ(t2.update(o, t0).size(), 1u);
    EXPECT_EQ(t2.next_ejection_end(), t0 + seconds(30));
    EXPECT_EQ(t2.find(kWeb)->backends.at(ep(1)).ejections, 0u);
    EXPECT_EQ(t2.end_ejections(t0 + seconds(30)).size(), 1u);
}

TEST_F(HealthTracker, ABackendWhoseIdChangedKeepsItsEjection) {
    (void)t.update(svc(2), t0);
    ASSERT_TRUE(fail(1, 5, t0));
    auto s = svc(2);
    s.backends[0].id = 555;  // a restarted daemon's reconciler may hand out another id
    (void)t.update(s, t0);
    EXPECT_TRUE(b(1).ejected);
    auto back = t.end_ejections(t0 + seconds(30));
    ASSERT_EQ(back.size(), 1u);
    EXPECT_EQ(back[0].endpoint, ep(1));
}

}  // namespace
