//! ViT-B/16 in torchvision's layout (`torchvision.models.vit_b_16`).
//!
//! Pre-norm encoder blocks with exact GELU and LayerNorm eps 1e-6; a learned class token
//! and position embedding. Attention keeps torchvision's fused `in_proj_weight`
//! (`[3·D, D]`, PyTorch layout) and splits its product into q, k and v — one matmul instead
//! of three, and the checkpoint key loads as is. Module paths equal torchvision's keys
//! except `encoder_layer_N` → `N` and `mlp.0|3` → `mlp.linear_1|linear_2`.

use burn::config::Config;
use burn::module::{Module, Param, ParamGroup};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{
    Dropout, DropoutConfig, Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig,
};
use burn::tensor::activation::{gelu, softmax};
use burn::tensor::{Device, Tensor};

use crate::backbone::Stage;
use crate::registry::Arch;

/// LayerNorm epsilon of torchvision's ViTs.
const LN_EPS: f64 = 1e-6;

/// Shape of a Vision Transformer.
#[derive(Config, Debug)]
pub struct VitConfig {
    /// Input side the position embedding is sized for.
    pub image_size: usize,
    /// Patch side.
    pub patch_size: usize,
    /// Encoder blocks.
    pub num_layers: usize,
    /// Attention heads.
    pub num_heads: usize,
    /// Embedding width.
    pub hidden_dim: usize,
    /// MLP width.
    pub mlp_dim: usize,
    /// Output classes.
    pub num_classes: usize,
    /// Dropout inside the encoder (training only).
    #[config(default = 0.0)]
    pub dropout: f64,
}

impl VitConfig {
    /// ViT-B/16 at 224×224.
    pub fn b_16(num_classes: usize) -> Self {
        Self::new(224, 16, 12, 12, 768, 3072, num_classes)
    }

    /// Tokens per image (patches plus the class token).
    pub fn seq_len(&self) -> usize {
        (self.image_size / self.patch_size).pow(2) + 1
    }

    /// Build with fresh weights on `device`.
    pub fn init(&self, arch: Arch, device: &Device) -> VisionTransformer {
        let d = self.hidden_dim;
        let normal = Initializer::Normal {
            mean: 0.0,
            std: 0.02,
        };
        let layers = (0..self.num_layers)
            .map(|_| EncoderBlock {
                ln_1: LayerNormConfig::new(d).with_epsilon(LN_EPS).init(device),
                self_attention: MultiheadAttention {
                    in_proj_weight: Initializer::XavierUniform { gain: 1.0 }.init_with(
                        [3 * d, d],
                        Some(d),
                        Some(3 * d),
                        device,
                    ),
                    in_proj_bias: Initializer::Zeros.init([3 * d], device),
                    out_proj: LinearConfig::new(d, d).init(device),
                    num_heads: self.num_heads,
                },
                ln_2: LayerNormConfig::new(d).with_epsilon(LN_EPS).init(device),
                mlp: Mlp {
                    linear_1: LinearConfig::new(d, self.mlp_dim).init(device),
                    linear_2: LinearConfig::new(self.mlp_dim, d).init(device),
                },
                dropout: DropoutConfig::new(self.dropout).init(),
            })
            .collect();
        VisionTransformer {
            arch,
            class_token: Initializer::Zeros.init([1, 1, d], device),
            conv_proj: Conv2dConfig::new([3, d], [self.patch_size, self.patch_size])
                .with_stride([self.patch_size, self.patch_size])
                .init(device),
            encoder: Encoder {
                pos_embedding: normal.init([1, self.seq_len(), d], device),
                layers,
                ln: LayerNormConfig::new(d).with_epsilon(LN_EPS).init(device),
            },
            heads: Heads {
                head: LinearConfig::new(d, self.num_classes).init(device),
            },
        }
    }
}

/// Multi-head self-attention with torchvision's fused input projection.
#[derive(Module, Debug)]
pub struct MultiheadAttention {
    /// q, k, v projections stacked: `[3·D, D]` (PyTorch layout, applied as `x Wᵀ`).
    pub in_proj_weight: Param<Tensor<2>>,
    /// q, k, v biases stacked: `[3·D]`.
    pub in_proj_bias: Param<Tensor<1>>,
    /// Output projection.
    pub out_proj: Linear,
    /// Heads.
    pub num_heads: usize,
}

impl MultiheadAttention {
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [n, l, d] = x.dims();
        let h = self.num_heads;
        let hd = d / h;
        let w = self.in_proj_weight.val().transpose().unsqueeze::<3>();
        let b = self.in_proj_bias.val().unsqueeze::<3>();
        let qkv = x.matmul(w) + b; // [n, l, 3d]
        let heads = |t: Tensor<3>| t.reshape([n, l, h, hd]).swap_dims(1, 2); // [n, h, l, hd]
        let mut parts = qkv.chunk(3, 2).into_iter();
        let (Some(q), Some(k), Some(v)) = (parts.next(), parts.next(), parts.next()) else {
            unreachable!("chunk(3) of a 3·D axis yields three parts")
        };
        let (q, k, v) = (heads(q), heads(k), heads(v));
        let scores = q.matmul(k.swap_dims(2, 3)).div_scalar((hd as f64).sqrt());
        let out = softmax(scores, 3).matmul(v); // [n, h, l, hd]
        self.out_proj
            .forward(out.swap_dims(1, 2).reshape([n, l, d]))
    }
}

/// The two-layer MLP of an encoder block (`mlp.0`, `mlp.3` in torchvision).
#[derive(Module, Debug)]
pub struct Mlp {
    /// `D → mlp_dim`.
    pub linear_1: Linear,
    /// `mlp_dim → D`.
    pub linear_2: Linear,
}

/// A pre-norm transformer block.
#[derive(Module, Debug)]
pub struct EncoderBlock {
    /// Norm before attention.
    pub ln_1: LayerNorm,
    /// Self-attention.
    pub self_attention: MultiheadAttention,
    /// Norm before the MLP.
    pub ln_2: LayerNorm,
    /// MLP.
    pub mlp: Mlp,
    /// Dropout (training only).
    pub dropout: Dropout,
}

impl EncoderBlock {
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let y = self
            .dropout
            .forward(self.self_attention.forward(self.ln_1.forward(x.clone())));
        let x = x + y;
        let y = self.mlp.linear_1.forward(self.ln_2.forward(x.clone()));
        let y = self
            .dropout
            .forward(self.mlp.linear_2.forward(self.dropout.forward(gelu(y))));
        x + y
    }
}

/// Position embedding, blocks and the final norm.
#[derive(Module, Debug)]
pub struct Encoder {
    /// Learned position embedding `[1, tokens, D]`.
    pub pos_embedding: Param<Tensor<3>>,
    /// Encoder blocks (`encoder_layer_N` in torchvision).
    pub layers: Vec<EncoderBlock>,
    /// Final LayerNorm.
    pub ln: LayerNorm,
}

/// Classification heads (`heads.head`).
#[derive(Module, Debug)]
pub struct Heads {
    /// The classifier.
    pub head: Linear,
}

/// ViT-B/16. Create one through [`crate::create`].
#[derive(Module, Debug)]
pub struct VisionTransformer {
    /// The registry entry this network answers to.
    #[module(skip)]
    pub arch: Arch,
    /// Learned class token `[1, 1, D]`.
    pub class_token: Param<Tensor<3>>,
    /// Patch embedding.
    pub conv_proj: Conv2d,
    /// The transformer.
    pub encoder: Encoder,
    /// The classifier.
    pub heads: Heads,
}

impl VisionTransformer {
    /// Class-token embedding after the final norm `[N, D]`.
    pub fn forward_features(&self, x: Tensor<4>) -> Tensor<2> {
        let x = self.conv_proj.forward(x); // [n, d, gh, gw]
        let [n, d, gh, gw] = x.dims();
        let x = x.reshape([n, d, gh * gw]).swap_dims(1, 2); // [n, p, d]
        let cls = self.class_token.val().expand([n, 1, d]);
        let mut x = Tensor::cat(vec![cls, x], 1) + self.encoder.pos_embedding.val();
        for layer in &self.encoder.layers {
            x = layer.forward(x);
        }
        let x = self.encoder.ln.forward(x);
        x.narrow(1, 0, 1).reshape([n, d])
    }

    /// Logits `[N, num_classes]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.heads.head.forward(self.forward_features(x))
    }

    /// `embed` (class token, patch projection, positions), `block1`…`blockN`, `norm`, `head`.
    pub fn stages(&self) -> Vec<Stage> {
        let embed =
            ParamGroup::ids_from_module(self.conv_proj.clone()).fuse(&ParamGroup::from_ids(vec![
                self.class_token.id,
                self.encoder.pos_embedding.id,
            ]));
        let mut out = vec![Stage::new("embed", embed)];
        for (i, l) in self.encoder.layers.iter().enumerate() {
            out.push(Stage::new(
                format!("block{}", i + 1),
                ParamGroup::ids_from_module(l.clone()),
            ));
        }
        out.push(Stage::new(
            "norm",
            ParamGroup::ids_from_module(self.encoder.ln.clone()),
        ));
        out.push(Stage::new(
            "head",
            ParamGroup::ids_from_module(self.heads.clone()),
        ));
        out
    }

    /// Replace the classifier for `num_classes` outputs.
    pub fn reset_head(&mut self, num_classes: usize, device: &Device) {
        let [d_in, _] = self.heads.head.weight.shape().dims();
        self.heads.head = LinearConfig::new(d_in, num_classes).init(device);
    }

    /// Classes of the current head.
    pub fn num_classes(&self) -> usize {
        let [_, out] = self.heads.head.weight.shape().dims();
        out
    }

    /// Input side the position embedding was sized for.
    pub fn image_size(&self) -> usize {
        let [_, tokens, _] = self.encoder.pos_embedding.shape().dims();
        let [_, _, p, _] = self.conv_proj.weight.shape().dims();
        ((tokens - 1) as f64).sqrt().round() as usize * p
    }
}
