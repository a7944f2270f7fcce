#!/usr/bin/python3
"""clyp_ref.py — an independent PyTorch reference of the CLYP model (clip-japanese-base v1/v2),
written from ../shared/reference/model-spec.md (sections 2-5), used to produce the goldens the C
engine is tested against.  Run with Debian's /usr/bin/python3 (torch 1.13, Pillow, numpy).

Subcommands
  gen     write a random-weight model directory in the official layout
          (config.json, preprocessor_config.json, model.safetensors):
          --variant v2 (full size, 256-d necks, openai_clip), v1 (512-d, imagenet), small
  embed   features of images (files, letterboxed with Pillow as CLYP does) or token ids
          (.npy int32, one row per text, padded with 3 and a lengths array) -> .npy
  golden  regenerate tests/golden/model/ (small model, pixels, ids, features)
  prep    reference inputs (pixels.npy, ids.npy) and features for a model dir (full-size check)
  compare compare two feature .npy files at the project tolerance (exit 1 if they differ)

Nothing here imports timm or transformers: the block math is spelled out so that the C
engine is checked against the spec, not against a library that could share its bugs.
"""
import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

torch.set_num_threads(max(1, int(os.environ.get("REF_THREADS", "2"))))

# ------------------------------------------------------------------------------------------
# safetensors (tiny reader/writer; the format is an 8-byte LE header length, a JSON header,
# then raw little-endian data)
DT = {"F32": np.float32, "F16": np.float16, "BF16": None, "I64": np.int64, "I32": np.int32}


def st_write(path, tensors, dtypes=None):
    """tensors: ordered dict name -> np.ndarray (float32 / int64); dtypes: name -> 'F16'/'BF16'."""
    dtypes = dtypes or {}
    header, blobs, off = {}, [], 0
    for name, a in tensors.items():
        dt = dtypes.get(name)
        if a.dtype == np.int64:
            dt, raw = "I64", a.astype("<i8").tobytes()
        elif dt == "F16":
            raw = a.astype("<f2").tobytes()
        elif dt == "BF16":
            u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)
            # round to nearest even
            u = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype("<u2")
            raw = u.tobytes()
        else:
            dt, raw = "F32", np.ascontiguousarray(a, dtype="<f4").tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(path + ".tmp", path)


def st_read(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        base = 8 + n
        out = {}
        mm = np.memmap(path, dtype=np.uint8, mode="r")
        for name, h in header.items():
            if name == "__metadata__":
                continue
            a, b = h["data_offsets"]
            raw = mm[base + a: base + b]
            if h["dtype"] == "F32":
                t = np.frombuffer(raw, "<f4")
            elif h["dtype"] == "F16":
                t = np.frombuffer(raw, "<f2").astype(np.float32)
            elif h["dtype"] == "BF16":
                t = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
            elif h["dtype"] == "I64":
                t = np.frombuffer(raw, "<i8")
            else:
                raise ValueError("dtype " + h["dtype"])
            out[name] = torch.from_numpy(np.array(t).reshape(h["shape"]))
        return out


# ------------------------------------------------------------------------------------------
# configuration (the same rules as src/io/config.c)
EVA_BASE = dict(embed_dim=768, depth=12, num_heads=12, mlp_ratio=4 * 2 / 3, patch_size=16,
                img_size=224, ref_feat_shape=[16, 16])
BERT_BASE = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                 intermediate_size=3072, vocab_size=32000, max_position_embeddings=512,
                 type_vocab_size=2, layer_norm_eps=1e-12)
NORMS = {"imagenet": ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
         "openai_clip": ([0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711]),
         "imagenet_inception": ([0.5] * 3, [0.5] * 3)}


def load_config(d):
    cfg = json.load(open(os.path.join(d, "config.json")))
    pp = json.load(open(os.path.join(d, "preprocessor_config.json")))
    v = cfg["vision_encoder_config"]
    t = cfg["text_encoder_config"]
    vc = dict(EVA_BASE)
    vc.update(v["backbone_config"].get("extra_kwargs", {}) or {})
    tc = dict(BERT_BASE)
    tc.update(t["backbone_config"].get("extra_kwargs", {}) or {})
    rf = vc["ref_feat_shape"]
    if isinstance(rf, int):
        rf = [rf, rf]
    vc["ref_feat_shape"] = rf
    return dict(vision=vc, text=tc, dim=v["neck_config"]["out_channels"],
                image_size=pp.get("image_size", 224),
                norm=NORMS[pp.get("normalization_type", "imagenet")])


# ------------------------------------------------------------------------------------------
# the model, written from the spec
def rope_table(grid, ref, head_dim):
    """sin, cos (N, head_dim) for the N = grid*grid patch tokens (spec 3.3)."""
    nb = head_dim // 4
    bands = 1.0 / (10000.0 ** (torch.arange(0, nb, dtype=torch.int64).to(torch.float32) / nb))
    t = [torch.arange(grid, dtype=torch.int64).to(torch.float32) / grid * r for r in ref]
    gy, gx = torch.meshgrid(t[0], t[1], indexing="ij")
    pos = torch.stack([gy, gx], -1).unsqueeze(-1) * bands  # (g, g, 2, nb)
    sin = pos.sin().reshape(grid * grid, -1).repeat_interleave(2, -1)
    cos = pos.cos().reshape(grid * grid, -1).repeat_interleave(2, -1)
    return sin, cos


def rot(x):
    return torch.stack([-x[..., 1::2], x[..., ::2]], -1).reshape(x.shape)


def vision_forward(W, vc, pix):
    p = "vision_encoder.backbone."
    D, H, ps = vc["embed_dim"], vc["num_heads"], vc["patch_size"]
    hd = D // H
    grid = vc["img_size"] // ps
    x = F.conv2d(pix, W[p + "patch_embed.proj.weight"], W[p + "patch_embed.proj.bias"], stride=ps)
    B = x.shape[0]
    x = x.flatten(2).transpose(1, 2)  # (B, N, D), token = row*grid + col
    x = torch.cat([W[p + "cls_token"].expand(B, -1, -1), x], 1) + W[p + "pos_embed"]
    sin, cos = rope_table(grid, vc["ref_feat_shape"], hd)
    eps = 1e-6
    for i in range(vc["depth"]):
        b = p + "blocks.%d." % i
        h = F.layer_norm(x, (D,), W[b + "norm1.weight"], W[b + "norm1.bias"], eps)
        q = F.linear(h, W[b + "attn.q_proj.weight"], W[b + "attn.q_proj.bias"])
        k = F.linear(h, W[b + "attn.k_proj.weight"])
        v = F.linear(h, W[b + "attn.v_proj.weight"], W[b + "attn.v_proj.bias"])
        q, k, v = [t.reshape(B, -1, H, hd).transpose(1, 2) for t in (q, k, v)]
        q = torch.cat([q[:, :, :1], q[:, :, 1:] * cos + rot(q[:, :, 1:]) * sin], 2)
        k = torch.cat([k[:, :, :1], k[:, :, 1:] * cos + rot(k[:, :, 1:]) * sin], 2)
        a = torch.softmax((q @ k.transpose(-1, -2)) * (hd ** -0.5), -1) @ v
        a = a.transpose(1, 2).reshape(B, -1, D)
        a = F.layer_norm(a, (D,), W[b + "attn.norm.weight"], W[b + "attn.norm.bias"], eps)
        x = x + F.linear(a, W[b + "attn.proj.weight"], W[b + "attn.proj.bias"])
        h = F.layer_norm(x, (D,), W[b + "norm2.weight"], W[b + "norm2.bias"], eps)
        g = F.linear(h, W[b + "mlp.fc1_g.weight"], W[b + "mlp.fc1_g.bias"])
        u = F.linear(h, W[b + "mlp.fc1_x.weight"], W[b + "mlp.fc1_x.bias"])
        m = F.silu(g) * u
        m = F.layer_norm(m, (m.shape[-1],), W[b + "mlp.norm.weight"], W[b + "mlp.norm.bias"], eps)
        x = x + F.linear(m, W[b + "mlp.fc2.weight"], W[b + "mlp.fc2.bias"])
    x = F.layer_norm(x, (D,), W[p + "norm.weight"], W[p + "norm.bias"], eps)
    return F.linear(x[:, 0], W["vision_encoder.neck.linear.weight"])


def text_forward(W, tc, ids, mask):
    """ids, mask (B, L) int64; position ids 0..L-1, padded keys masked (HF BertModel)."""
    p = "text_encoder.backbone.model."
    D, H = tc["hidden_size"], tc["num_attention_heads"]
    hd = D // H
    eps = tc["layer_norm_eps"]
    B, L = ids.shape
    pos = torch.arange(L)
    x = W[p + "embeddings.word_embeddings.weight"][ids] + W[p + "embeddings.token_type_embeddings.weight"][0]
    x = x + W[p + "embeddings.position_embeddings.weight"][pos]
    x = F.layer_norm(x, (D,), W[p + "embeddings.LayerNorm.weight"], W[p + "embeddings.LayerNorm.bias"], eps)
    bias = (1.0 - mask[:, None, None, :].to(torch.float32)) * torch.finfo(torch.float32).min
    for i in range(tc["num_hidden_layers"]):
        b = p + "encoder.layer.%d." % i
        q, k, v = [F.linear(x, W[b + "attention.self.%s.weight" % n], W[b + "attention.self.%s.bias" % n])
                   .reshape(B, L, H, hd).transpose(1, 2) for n in ("query", "key", "value")]
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd) + bias, -1) @ v
        a = a.transpose(1, 2).reshape(B, L, D)
        a = F.linear(a, W[b + "attention.output.dense.weight"], W[b + "attention.output.dense.bias"])
        x = F.layer_norm(x + a, (D,), W[b + "attention.output.LayerNorm.weight"],
                         W[b + "attention.output.LayerNorm.bias"], eps)
        m = F.gelu(F.linear(x, W[b + "intermediate.dense.weight"], W[b + "intermediate.dense.bias"]))
        m = F.linear(m, W[b + "output.dense.weight"], W[b + "output.dense.bias"])
        x = F.layer_norm(x + m, (D,), W[b + "output.LayerNorm.weight"], W[b + "output.LayerNorm.bias"], eps)
    return F.linear(x[:, 0], W["text_encoder.neck.linear.weight"])


# ------------------------------------------------------------------------------------------
# image preprocessing as CLYP's TestTransform (spec 7), for RGB / L images
def letterbox(path, size):
    from PIL import Image
    im = Image.open(path)
    w, h = im.size
    scale = size / max(h, w)
    if scale != 1.0:
        nh, nw = round(h * scale), round(w * scale)
        im = im.resize((nw, nh), Image.BICUBIC)
    w, h = im.size
    pw, ph = size - w, size - h
    canvas = Image.new(im.mode, (size, size), 0)
    canvas.paste(im, (pw // 2, ph // 2))
    return np.asarray(canvas.convert("RGB"), dtype=np.uint8)


def normalize(rgb, norm):
    x = torch.from_numpy(rgb.astype(np.float32) / 255.0).permute(0, 3, 1, 2)
    m = torch.tensor(norm[0], dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(norm[1], dtype=torch.float32).view(1, 3, 1, 1)
    return (x - m) / s


# ------------------------------------------------------------------------------------------
# random model generator
def make_weights(vc, tc, dim, seed, position_ids=True):
    g = torch.Generator().manual_seed(seed)

    def rn(*shape, std=0.02, mean=0.0):
        return (torch.randn(*shape, generator=g) * std + mean).numpy()

    W = {}
    D, ps, grid = vc["embed_dim"], vc["patch_size"], vc["img_size"] // vc["patch_size"]
    hid = int(D * vc["mlp_ratio"])
    p = "vision_encoder.backbone."
    W[p + "cls_token"] = rn(1, 1, D, std=0.5)
    W[p + "pos_embed"] = rn(1, grid * grid + 1, D, std=0.5)
    W[p + "patch_embed.proj.weight"] = rn(D, 3, ps, ps, std=0.05)
    W[p + "patch_embed.proj.bias"] = rn(D)
    for i in range(vc["depth"]):
        b = p + "blocks.%d." % i
        for n, (o, k, bias) in {"attn.q_proj": (D, D, 1), "attn.k_proj": (D, D, 0), "attn.v_proj": (D, D, 1),
                               "attn.proj": (D, D, 1), "mlp.fc1_g": (hid, D, 1), "mlp.fc1_x": (hid, D, 1),
                               "mlp.fc2": (D, hid, 1)}.items():
            W[b + n + ".weight"] = rn(o, k, std=1.0 / math.sqrt(k))
            if bias:
                W[b + n + ".bias"] = rn(o)
        for n, w in (("norm1", D), ("attn.norm", D), ("norm2", D), ("mlp.norm", hid)):
            W[b + n + ".weight"] = rn(w, std=0.1, mean=1.0)
            W[b + n + ".bias"] = rn(w, std=0.05)
    W[p + "norm.weight"] = rn(D, std=0.1, mean=1.0)
    W[p + "norm.bias"] = rn(D, std=0.05)
    W["vision_encoder.neck.linear.weight"] = rn(dim, D, std=1.0 / math.sqrt(D))
    p = "text_encoder.backbone.model."
    T, I = tc["hidden_size"], tc["intermediate_size"]
    W[p + "embeddings.word_embeddings.weight"] = rn(tc["vocab_size"], T, std=0.5)
    W[p + "embeddings.position_embeddings.weight"] = rn(tc["max_position_embeddings"], T, std=0.5)
    W[p + "embeddings.token_type_embeddings.weight"] = rn(tc["type_vocab_size"], T, std=0.5)
    if position_ids:  # the kind of buffer older transformers saved; the loader must ignore it
        W[p + "embeddings.position_ids"] = np.arange(tc["max_position_embeddings"], dtype=np.int64)[None]
    W[p + "embeddings.LayerNorm.weight"] = rn(T, std=0.1, mean=1.0)
    W[p + "embeddings.LayerNorm.bias"] = rn(T, std=0.05)
    for i in range(tc["num_hidden_layers"]):
        b = p + "encoder.layer.%d." % i
        for n, (o, k) in {"attention.self.query": (T, T), "attention.self.key": (T, T),
                          "attention.self.value": (T, T), "attention.output.dense": (T, T),
                          "intermediate.dense": (I, T), "output.dense": (T, I)}.items():
            W[b + n + ".weight"] = rn(o, k, std=1.0 / math.sqrt(k))
            W[b + n + ".bias"] = rn(o)
        for n in ("attention.output.LayerNorm", "output.LayerNorm"):
            W[b + n + ".weight"] = rn(T, std=0.1, mean=1.0)
            W[b + n + ".bias"] = rn(T, std=0.05)
    W["text_encoder.neck.linear.weight"] = rn(dim, T, std=1.0 / math.sqrt(T))
    W["itc_loss_fn.temperature"] = np.array(0.0123 + 0.001 * (seed % 7), dtype=np.float32)
    return W


def write_model_dir(out, variant, seed):
    os.makedirs(out, exist_ok=True)
    vk, tk, dtypes = {}, {}, {}
    if variant == "v2":
        dim, norm = 256, "openai_clip"
    elif variant == "v1":
        dim, norm = 512, "imagenet"
    elif variant == "small":
        dim, norm = 16, "openai_clip"
        vk = dict(embed_dim=32, depth=2, num_heads=2, img_size=112)
        tk = dict(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=40,
                  max_position_embeddings=80)
    else:
        raise SystemExit("unknown variant " + variant)
    vc = dict(EVA_BASE, **vk)
    tc = dict(BERT_BASE, **tk)
    image_size = vc["img_size"]
    cfg = {
        "architectures": ["CLYPModel"],
        "auto_map": {"AutoConfig": "configuration_clyp.CLYPConfig", "AutoModel": "modeling_clyp.CLYPModel"},
        "learn_temperature": True,
        "model_type": "clyp",
        "temperature_init": 0.07,
        "temperature_max": 1000.0,
        "temperature_min": 0.01,
        "text_encoder_config": {
            "backbone_config": {"model_name": "rinna/japanese-clip-vit-b-16", "pretrained": False},
            "neck_config": {"bias": False, "in_channels": tc["hidden_size"], "out_channels": dim},
            "pooler_config": {"input_type": "huggingface"}},
        "torch_dtype": "float32",
        "transformers_version": "4.40.0",
        "vision_encoder_config": {
            "backbone_config": {"extra_kwargs": {}, "model_name": "eva02_base_patch16_clip_224.merged2b",
                                "pretrained": False},
            "neck_config": {"bias": False, "in_channels": vc["embed_dim"], "out_channels": dim},
            "pooler_config": {"input_type": "timm", "return_patch_features": False}},
    }
    if tk:
        cfg["text_encoder_config"]["backbone_config"]["extra_kwargs"] = tk
    if vk:
        cfg["vision_encoder_config"]["backbone_config"]["extra_kwargs"] = vk
        # exercise the dtype conversions in the small model (and keep it small)
        dtypes = {"text_encoder.backbone.model.embeddings.word_embeddings.weight": "F16",
                  "vision_encoder.backbone.pos_embed": "BF16"}
    pp = {"auto_map": {"AutoImageProcessor": "image_processing_clyp.CLYPImageProcessor"},
          "image_processor_type": "CLYPImageProcessor", "image_size": image_size,
          "normalization_type": norm}
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    with open(os.path.join(out, "preprocessor_config.json"), "w") as f:
        json.dump(pp, f, indent=2, sort_keys=True)
        f.write("\n")
    W = make_weights(vc, tc, dim, seed)
    st_write(os.path.join(out, "model.safetensors"), W, dtypes)


# ------------------------------------------------------------------------------------------
def load_ids(path):
    """.npy int32 (n, L) padded with 3, plus path.replace('ids', 'lengths') if present."""
    ids = np.load(path).astype(np.int64)
    lp = path.replace("ids", "lengths")
    lengths = np.load(lp) if lp != path and os.path.exists(lp) else (ids != 3).sum(1)
    mask = (np.arange(ids.shape[1])[None] < lengths[:, None]).astype(np.int64)
    return torch.from_numpy(ids), torch.from_numpy(mask)


def tokenize(texts, spm_path):
    """CLYP's tokenizer rules (spec 6.2): per-code-point lower(), sentencepiece, [CLS]=4, <=77."""
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=spm_path)
    out = []
    for t in texts:
        low = "".join(c.lower() for c in t)
        out.append([4] + sp.encode(low)[:76])
    L = max(len(r) for r in out)
    ids = np.full((len(out), L), 3, dtype=np.int32)
    for i, r in enumerate(out):
        ids[i, :len(r)] = r
    return ids, np.array([len(r) for r in out], dtype=np.int32)


def cmd_embed(a):
    cfg = load_config(a.model)
    W = st_read(os.path.join(a.model, "model.safetensors"))
    with torch.no_grad():
        if a.image:
            rgb = np.stack([letterbox(p, cfg["image_size"]) for p in a.image])
            feats = []
            for i in range(0, len(rgb), 8):
                feats.append(vision_forward(W, cfg["vision"], normalize(rgb[i:i + 8], cfg["norm"])))
            y = torch.cat(feats)
        else:
            texts = a.text if a.text else open(a.texts_from, encoding="utf-8").read().split("\n")
            if not a.text and texts and texts[-1] == "":
                texts = texts[:-1]
            ids, lengths = tokenize(texts, a.tokenizer)
            mask = (np.arange(ids.shape[1])[None] < lengths[:, None]).astype(np.int64)
            y = text_forward(W, cfg["text"], torch.from_numpy(ids.astype(np.int64)), torch.from_numpy(mask))
    np.save(a.out, y.numpy().astype(np.float32))


GOLDEN_IMAGES = ["photos/chelsea.png", "photos/astronaut.png", "photos/coffee.png", "photos/rocket.jpg",
                 "photos/flower.jpg", "photos/nagasaki-boats.jpg", "formats/gray.jpg"]
GOLDEN_TEXTS = [
    "犬", "猫", "象", "犬の写真", "東京タワーの夜景", "a photo of a dog", "ＡＢＣ　ｄｅｆ", "  Hello   World  ",
    "ｶﾀｶﾅ①㍻", "😀😀絵文字", "Ⅸ世紀の城", "", "富士山と桜の風景写真、春の朝", "ＵＰＰＥＲ　ＣＡＳＥ　ＦＵＬＬ１２３",
    "🍣🍜🍱 和食の写真 🎌", "山田太郎が公園で赤いボールを投げている。" * 8,
    "The quick brown fox jumps over the lazy dog. " * 6, "子猫が窓辺で眠っている", "夜の新宿の街並み",
    "一匹の白い犬が雪の中を走っている様子を撮影した写真です。背景には青い空と山が見える。",
    "ラーメン", "1234567890", "Σίσυφος ΑΒΓ", "タブを\t含む テキスト",
]


def cmd_golden(a):
    out = a.out
    shared = a.shared
    mdir = os.path.join(out, "small")
    write_model_dir(mdir, "small", seed=1234)
    cfg = load_config(mdir)
    W = st_read(os.path.join(mdir, "model.safetensors"))
    rgb = np.stack([letterbox(os.path.join(shared, "images", p), cfg["image_size"]) for p in GOLDEN_IMAGES])
    ids, lengths = tokenize(GOLDEN_TEXTS, os.path.join(shared, "tokenizer", "rinna-japanese-sp.model"))
    mask = (np.arange(ids.shape[1])[None] < lengths[:, None]).astype(np.int64)
    with torch.no_grad():
        fi = vision_forward(W, cfg["vision"], normalize(rgb, cfg["norm"]))
        ft = text_forward(W, cfg["text"], torch.from_numpy(ids.astype(np.int64)), torch.from_numpy(mask))
    np.save(os.path.join(out, "image_rgb.npy"), rgb)
    np.save(os.path.join(out, "image_features.npy"), fi.numpy().astype(np.float32))
    np.save(os.path.join(out, "text_ids.npy"), ids)
    np.save(os.path.join(out, "text_lengths.npy"), lengths)
    np.save(os.path.join(out, "text_features.npy"), ft.numpy().astype(np.float32))
    with open(os.path.join(out, "images.txt"), "w") as f:
        f.write("".join(p + "\n" for p in GOLDEN_IMAGES))
    with open(os.path.join(out, "texts.txt"), "w", encoding="utf-8") as f:
        f.write("".join(t + "\n" for t in GOLDEN_TEXTS))


def cmd_prep(a):
    """Reference inputs and features for a model dir: pixels.npy, ids.npy, ref_image.npy, ref_text.npy."""
    cfg = load_config(a.model)
    W = st_read(os.path.join(a.model, "model.safetensors"))
    images = [l for l in open(a.images_from).read().split("\n") if l]
    texts = open(a.texts_from, encoding="utf-8").read().split("\n")
    if texts and texts[-1] == "":
        texts = texts[:-1]
    rgb = np.stack([letterbox(p, cfg["image_size"]) for p in images])
    pix = normalize(rgb, cfg["norm"])
    ids, lengths = tokenize(texts, a.tokenizer)
    mask = (np.arange(ids.shape[1])[None] < lengths[:, None]).astype(np.int64)
    with torch.no_grad():
        fi = torch.cat([vision_forward(W, cfg["vision"], pix[i:i + 4]) for i in range(0, len(pix), 4)])
        ft = text_forward(W, cfg["text"], torch.from_numpy(ids.astype(np.int64)), torch.from_numpy(mask))
    os.makedirs(a.out, exist_ok=True)
    np.save(os.path.join(a.out, "pixels.npy"), pix.numpy().astype(np.float32))
    np.save(os.path.join(a.out, "ids.npy"), ids)
    np.save(os.path.join(a.out, "ref_image.npy"), fi.numpy().astype(np.float32))
    np.save(os.path.join(a.out, "ref_text.npy"), ft.numpy().astype(np.float32))


def cmd_compare(a):
    """Exit 0 when every row of GOT matches WANT at cosine >= 0.99999 and max|d| <= 1e-4 max|want|."""
    got, want = np.load(a.got).astype(np.float64), np.load(a.want).astype(np.float64)
    if got.shape != want.shape:
        print("%s: shape %s, expected %s" % (a.got, got.shape, want.shape))
        sys.exit(1)
    cos = (got * want).sum(1) / np.maximum(np.linalg.norm(got, axis=1) * np.linalg.norm(want, axis=1), 1e-30)
    md = np.abs(got - want).max()
    tol = 1e-4 * np.abs(want).max()
    ok = cos.min() >= 0.99999 and md <= tol
    print("%s: %d rows, min cosine %.9f, max abs diff %.3g (tolerance %.3g) -> %s"
          % (a.label or a.got, got.shape[0], cos.min(), md, tol, "OK" if ok else "FAIL"))
    sys.exit(0 if ok else 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen")
    g.add_argument("--variant", required=True, choices=["v1", "v2", "small"])
    g.add_argument("--out", required=True)
    g.add_argument("--seed", type=int, default=0)
    e = sub.add_parser("embed")
    e.add_argument("--model", required=True)
    e.add_argument("--image", nargs="*")
    e.add_argument("--text", nargs="*")
    e.add_argument("--texts-from")
    e.add_argument("--tokenizer")
    e.add_argument("--out", required=True)
    go = sub.add_parser("golden")
    go.add_argument("--out", default="tests/golden/model")
    go.add_argument("--shared", default="../shared")
    pr = sub.add_parser("prep")
    pr.add_argument("--model", required=True)
    pr.add_argument("--images-from", required=True)
    pr.add_argument("--texts-from", required=True)
    pr.add_argument("--tokenizer", required=True)
    pr.add_argument("--out", required=True)
    c = sub.add_parser("compare")
    c.add_argument("got")
    c.add_argument("want")
    c.add_argument("--label")
    a = ap.parse_args()
    if a.cmd == "gen":
        write_model_dir(a.out, a.variant, a.seed)
    elif a.cmd == "embed":
        cmd_embed(a)
    elif a.cmd == "prep":
        cmd_prep(a)
    elif a.cmd == "compare":
        cmd_compare(a)
    else:
        cmd_golden(a)


if __name__ == "__main__":
    main()
