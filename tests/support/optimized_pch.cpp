// The translation unit that builds the precompiled header of the OPTIMIZED test
// programs (tests/CMakeLists.txt); it defines nothing.
