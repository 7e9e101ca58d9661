{
  "targets": [
    {
      "target_name": "lmpipe_native",
      "sources": [
        "src/addon.cc",
        "src/pool.cc",
        "src/gemm.cc",
        "src/gemm_bf16.cc",
        "src/bf16_napi.cc",
        "src/layout.cc",
        "src/kernels.cc",
        "src/kernels_base.cc",
        "src/kernels_avx2.cc",
        "src/map_file.cc",
        "src/tokenizer/tok_core.cc",
        "src/tokenizer/tok_scalar.cc",
        "src/tokenizer/tok_avx2.cc",
        "src/tokenizer/tok_avx512.cc",
        "src/tokenizer/tok_napi.cc",
        "src/tokenizer/tok_tally.cc",
        "src/tokenizer/tok_files.cc",
        "src/formats/jsonl.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["-std=c++17", "-O3", "-fexceptions", "-fno-math-errno", "-fno-trapping-math", "-Wall", "-Wno-unused-function"],
      "libraries": ["-lopenblas", "-lpthread", "-ldl"]
    }
  ]
}
