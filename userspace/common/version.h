// The version of hopless, one string for hoplessd, hopless and the package.
// Defined in a source CMake generates from project(VERSION) (version.cpp.in):
// a new version recompiles that one file and relinks the two binaries.
#pragma once

namespace hl {

const char* version();

}  // namespace hl
