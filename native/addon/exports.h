// One registration function per JS-facing file of the addon.
#pragma once
#include <napi.h>

namespace llmk::addon {

void register_runtime(Napi::Env env, Napi::Object exports);  // runtime.cc
void register_vector(Napi::Env env, Napi::Object exports);   // vector.cc
void register_bleu(Napi::Env env, Napi::Object exports);     // bleu.cc
void register_tokenizer(Napi::Env env, Napi::Object exports);  // tokenizer.cc
void register_kv(Napi::Env env, Napi::Object exports);         // kv.cc
void register_bpe_train(Napi::Env env, Napi::Object exports);  // bpe_train.cc

}  // namespace llmk::addon
