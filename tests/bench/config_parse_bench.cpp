// Times hl::load_config_file() on a big config: what a one-service edit of
// the file costs the daemon before the registry sees the change (issue 8 §1:
// under 300 ms at 65,536 services, validation included).
//
//   build/tests/bench/config_parse_bench [--services N] [--runs R] [FILE]
//
// Without FILE it writes the config of N (65,536) one-line services,
// the same as
//   python3 -c "print('services:'); [print(f'  - {{ name: s{i}, vip: 127.{200 + i//65536}.{(i//256)%256}.{i%256},
//     port: 80, backends: [ {{ address: 10.1.{(i//256)%256}.{i%256}, port: 8080 }} ] }}') for i in range(N)]"
// to a temporary file, and removes it after. Prints every run and min/median of
// the wall clock and of the process's CPU time.
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "discovery/config_file.h"

namespace {

void write_config(const std::string& path, unsigned n) {
    std::ofstream out(path);
    out << "services:\n";
    char line[256];
    for (unsigned i = 0; i < n; ++i) {
        std::snprintf(line, sizeof line,
                      "  - { name: s%u, vip: 127.%u.%u.%u, port: 80, backends: [ { address: 10.1.%u.%u, port: 8080 } ] "
                      "}\n",
                      i, 200 + i / 65536, (i / 256) % 256, i % 256, (i / 256) % 256, i % 256);
        out << line;
    }
    if (!out.flush()) {
        std::fprintf(stderr, "config_parse_bench: cannot write %s\n", path.c_str());
        std::exit(1);
    }
}

// CPU time of this process: on a machine busy with other work (CI, builds)
// it moves far less than the wall clock does.
double cpu_ms() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

[[noreturn]] void usage() {
    std::fprintf(stderr, "usage: config_parse_bench [--services N] [--runs R] [FILE]\n");
    std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
    unsigned services = 65536, runs = 7;
    std::string file;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--services") && i + 1 < argc) services = std::strtoul(argv[++i], nullptr, 10);
        else if (!std::strcmp(argv[i], "--runs") && i + 1 < argc) runs = std::strtoul(argv[++i], nullptr, 10);
        else if (argv[i][0] == '-') usage();
        else file = argv[i];
    }
    if (runs == 0 || services == 0 || services > 16u * 65536) usage();

    std::string tmp;
    if (file.empty()) {
        char dir[] = "/tmp/config_parse_bench.XXXXXX";
        if (!mkdtemp(dir)) {
            std::perror("config_parse_bench: mkdtemp");
            return 1;
        }
        tmp = dir;
        file = tmp + "/hopless.yaml";
        write_config(file, services);
    }

    std::vector<double> ms, cpu;
    size_t got = 0;
    for (unsigned r = 0; r < runs; ++r) {
        double c0 = cpu_ms();
        auto t0 = std::chrono::steady_clock::now();
        auto c = hl::load_config_file(file);
        auto t1 = std::chrono::steady_clock::now();
        cpu.push_back(cpu_ms() - c0);
        if (!c) {
            std::fprintf(stderr, "config_parse_bench: %s\n", c.error().what().c_str());
            return 1;
        }
        got = c->services.size();
        ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
        std::printf("run %u: %.1f ms (cpu %.1f ms)\n", r + 1, ms.back(), cpu.back());
    }
    if (!tmp.empty()) {
        unlink(file.c_str());
        rmdir(tmp.c_str());
    }
    std::sort(ms.begin(), ms.end());
    std::sort(cpu.begin(), cpu.end());
    std::printf("load_config_file, %zu services, %u runs: min %.1f ms, median %.1f ms (cpu: min %.1f ms, median %.1f ms)\n",
                got, runs, ms.front(), ms[ms.size() / 2], cpu.front(), cpu[cpu.size() / 2]);
    return 0;
}
