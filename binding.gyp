{
  "targets": [
    {
      # AVX2/FMA kernels, compiled apart so the rest of the binary runs on any
      # x86-64; native/common/cpu.cc decides at run time whether to call them.
      "target_name": "llmk_avx2",
      "type": "static_library",
      "sources": ["native/vector/vector_add_avx2.cc", "native/kv/crc32c_sse42.cc", "native/kv/lossy_rows_avx2.cc", "native/kv/rans_lanes_avx2.cc", "native/bpe/unicode_avx2.cc"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-fPIC", "-fvisibility=hidden", "-fvisibility-inlines-hidden"],
      "conditions": [
        ["target_arch=='x64' or target_arch=='ia32'", {"cflags": ["-mavx2", "-mfma", "-mf16c"], "xcode_settings": {"OTHER_CFLAGS": ["-mavx2", "-mfma", "-mf16c"]}, "msvs_settings": {"VCCLCompilerTool": {"EnableEnhancedInstructionSet": "5"}}}]
      ]
    },
    {
      "target_name": "llm_kernels",
      "dependencies": [
        "llmk_avx2",
        "<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"
      ],
      "defines": ["NAPI_VERSION=8"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      # Hidden symbols: calls between kernels bind directly instead of through the PLT.
      "cflags_cc": ["-std=c++17", "-fexceptions", "-fvisibility=hidden", "-fvisibility-inlines-hidden"],
      "sources": [
        "native/common/cpu.cc",
        "native/common/thread_pool.cc",
        "native/common/no_cuda.cc",
        "native/vector/vector_add.cc",
        "native/bleu/bleu.cc",
        "native/bpe/unicode.cc",
        "native/bpe/pretokenize.cc",
        "native/bpe/encoding.cc",
        "native/bpe/encode_bytes.cc",
        "native/bpe/train.cc",
        "native/bpe/merge_batch.cc",
        "native/kv/crc32c.cc",
        "native/kv/lossy_rows.cc",
        "native/kv/rans.cc",
        "native/kv/lossless.cc",
        "native/kv/packed.cc",
        "native/kv/lossy.cc",
        "native/kv/container.cc",
        "native/addon/addon.cc",
        "native/addon/args.cc",
        "native/addon/js_string.cc",
        "native/addon/async_job.cc",
        "native/addon/runtime.cc",
        "native/addon/vector.cc",
        "native/addon/bleu.cc",
        "native/addon/tokenizer.cc",
        "native/addon/batch_texts.cc",
        "native/addon/kv.cc",
        "native/addon/bpe_train.cc"
      ]
    }
  ]
}
