// organism_point: runs organism grid points in-process, without MPI or the engine, and prints
// each point's settings, metrics and wall time (wall_seconds, base loading included) as one JSON
// line. For tuning the organism and for timing:
//   organism_point CONFIG [--set key=value]... [--points i,j,...] [--cache DIR] [--pack K]
// With --pack K the points run K at a time in one Task::run_many call (run.pack), in the order
// given; each is charged an equal part of its pack's wall time. A failed point prints an "error".
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "sweep/core/error.h"
#include "sweep/core/grid.h"
#include "sweep/core/json.h"
#include "worker/kinds.h"
#include "sweep/core/spec.h"

using namespace emsweep;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: organism_point CONFIG [--set k=v]... [--points i,j] [--cache DIR] "
                 "[--curves] [--pack K]\n";
    return 2;
  }
  std::vector<std::string> overrides;
  std::vector<std::uint64_t> indices;
  std::string cache = "organism-cache";
  bool curves = false;
  std::size_t pack = 1;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--set" && i + 1 < argc) {
      overrides.push_back(argv[++i]);
    } else if (a == "--points" && i + 1 < argc) {
      std::stringstream s(argv[++i]);
      std::string item;
      while (std::getline(s, item, ',')) indices.push_back(std::stoull(item));
    } else if (a == "--cache" && i + 1 < argc) {
      cache = argv[++i];
    } else if (a == "--pack" && i + 1 < argc) {
      pack = std::max<std::size_t>(1, std::stoull(argv[++i]));
    } else if (a == "--curves") {
      curves = true;
    } else {
      std::cerr << "organism_point: unknown argument " << a << "\n";
      return 2;
    }
  }
  try {
    TaskRegistry registry;
    register_runnable_kinds(registry);
    const SweepSpec spec = load_spec(argv[1], overrides, registry);
    const Grid grid(spec);
    if (indices.empty()) {
      for (std::uint64_t i = grid.next_kept(0); i < grid.full_size(); i = grid.next_kept(i + 1)) {
        indices.push_back(i);
      }
    }
    auto task = spec.kind->make();
    TaskContext ctx;
    ctx.cache_dir = cache;
    for (std::size_t first = 0; first < indices.size(); first += pack) {
      std::vector<Point> points;
      for (std::size_t k = first; k < std::min(indices.size(), first + pack); ++k) {
        points.push_back(grid.at(indices[k]));
      }
      const auto t0 = std::chrono::steady_clock::now();
      std::vector<PointOutcome> outcomes;
      if (pack == 1) {
        outcomes.resize(1);
        outcomes[0].result = task->run(points[0], ctx);
      } else {
        outcomes = task->run_many(points, ctx);
      }
      const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() /
                          static_cast<double>(points.size());
      for (std::size_t k = 0; k < points.size(); ++k) {
        const Point& p = points[k];
        std::ostringstream line;
        line << "{\"index\": " << p.index << ", \"replicate\": " << p.replicate
             << ", \"pack\": " << pack;
        for (std::size_t i = 0; i < spec.axes.size(); ++i) {
          if (spec.axes[i].is_replicate) continue;
          line << ", \"" << spec.axes[i].name
               << "\": " << p.settings.get(spec.axes[i].name).canonical();
        }
        if (!outcomes[k].result) {
          std::string what = "unknown error";
          try {
            std::rethrow_exception(outcomes[k].error);
          } catch (const std::exception& e) {
            what = e.what();
          }
          line << ", \"error\": " << JsonWriter::quote(what) << "}";
          std::cout << line.str() << std::endl;
          continue;
        }
        const TaskResult& r = *outcomes[k].result;
        for (std::size_t i = 0; i < r.metrics.size(); ++i) {
          char buf[64];
          std::snprintf(buf, sizeof buf, "%.17g", r.metrics[i]);
          line << ", \"" << spec.kind->metrics[i].name
               << "\": " << (std::isfinite(r.metrics[i]) ? buf : "null");
        }
        if (curves) {
          for (const auto& c : r.curves) {
            line << ", \"curve_" << c.name << "\": [";
            for (std::size_t i = 0; i < c.y.size(); ++i) {
              char buf[64];
              std::snprintf(buf, sizeof buf, "[%g, %.4g]", c.x[i], c.y[i]);
              line << (i ? ", " : "") << buf;
            }
            line << "]";
          }
        }
        line << ", \"wall_seconds\": " << wall << ", \"provenance\": \"" << r.provenance << "\"}";
        std::cout << line.str() << std::endl;
      }
    }
  } catch (const Error& e) {
    std::cerr << describe(e) << "\n";
    return static_cast<int>(e.exit_code());
  }
  return 0;
}
