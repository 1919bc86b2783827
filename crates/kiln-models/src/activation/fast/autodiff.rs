//! The autodiff implementation of [`FastActivation`]: forward on the inner backend, one
//! graph node per op, backward through [`FastBackward`].

use burn::backend::AutodiffBackend;
use burn::backend::Backend;
use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::backend::tensor::FloatTensor;

use super::{FastActivation, FastBackward};

/// Which tensor an elementwise op's backward needs.
enum Saved {
    Input,
    Output,
}

/// The graph node of a one-input elementwise op: `backward(saved, grad)` gives the input's
/// gradient.
struct Elementwise<B: Backend> {
    backward: fn(FloatTensor<B>, FloatTensor<B>) -> FloatTensor<B>,
}

impl<B: Backend> std::fmt::Debug for Elementwise<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Elementwise")
    }
}

impl<B: Backend> Backward<B, 1> for Elementwise<B> {
    type State = FloatTensor<B>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (saved, backward) = (ops.state, self.backward);
        unary::<B, _>(ops.parents, ops.node, grads, |g| backward(saved, g));
    }
}

/// Runs `forward` on the inner backend and records one node whose backward is `backward`.
fn elementwise<B: Backend, C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<B, C>>,
    forward: fn(FloatTensor<B>) -> FloatTensor<B>,
    backward: fn(FloatTensor<B>, FloatTensor<B>) -> FloatTensor<B>,
    saved: Saved,
) -> FloatTensor<Autodiff<B, C>> {
    let node = x.node();
    let input = x.into_primitive();
    match (Elementwise { backward })
        .prepare::<C>([node])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => match saved {
            Saved::Input => {
                let out = forward(input.clone());
                prep.finish(input, out)
            }
            Saved::Output => {
                let out = forward(input);
                prep.finish(out.clone(), out)
            }
        },
        // Nothing to save: the input may be overwritten in place.
        OpsKind::UnTracked(prep) => prep.finish(forward(input)),
    }
}

impl<B: Backend + FastActivation + FastBackward, C: CheckpointStrategy> FastActivation
    for Autodiff<B, C>
{
    fn fast_sigmoid(x: FloatTensor<Self>) -> FloatTensor<Self> {
        // The backward needs s = sigmoid(x): save the output.
        elementwise::<B, C>(x, B::fast_sigmoid, B::sigmoid_backward_fast, Saved::Output)
    }

    fn fast_silu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        // The backward recomputes sigmoid from x: save the input.
        elementwise::<B, C>(x, B::fast_silu, B::silu_backward_fast, Saved::Input)
    }

    fn fast_bn_act(
        x: FloatTensor<Self>,
        a: FloatTensor<Self>,
        b: FloatTensor<Self>,
        act: u8,
    ) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct BnAct;

        impl<B: Backend + FastBackward> Backward<B, 3> for BnAct {
            type State = (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>, u8);

            fn backward(
                self,
                ops: Ops<Self::State, 3>,
                grads: &mut Gradients,
                _: &mut Checkpointer,
            ) {
                let (x, a, b, act) = ops.state;
                let [px, pa, pb] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (dx, da, db) = B::bn_act_backward_fast(x, a, b, grad, act);
                for (parent, g) in [(px, dx), (pa, da), (pb, db)] {
                    if let Some(node) = parent {
                        grads.register::<B>(node.id, g);
                    }
                }
            }
        }

        let nodes = [x.node(), a.node(), b.node()];
        let (x, a, b) = (x.into_primitive(), a.into_primitive(), b.into_primitive());
        let out = B::fast_bn_act(x.clone(), a.clone(), b.clone(), act);
        match BnAct.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish((x, a, b, act), out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }

    fn fast_bn_train_act(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        act: u8,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        #[derive(Debug)]
        struct BnTrainAct;

        type BnState<B> = (
            FloatTensor<B>,
            FloatTensor<B>,
            FloatTensor<B>,
            FloatTensor<B>,
            FloatTensor<B>,
            f64,
            u8,
        );

        impl<B: Backend + FastBackward> Backward<B, 3> for BnTrainAct {
            type State = BnState<B>;

            fn backward(
                self,
                ops: Ops<Self::State, 3>,
                grads: &mut Gradients,
                _: &mut Checkpointer,
            ) {
                let (x, gamma, beta, mean, variance, epsilon, act) = ops.state;
                let [px, pg, pb] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (dx, dg, db) = B::bn_train_act_backward_fast(
                    x, gamma, beta, mean, variance, epsilon, grad, act,
                );
                for (parent, g) in [(px, dx), (pg, dg), (pb, db)] {
                    if let Some(node) = parent {
                        grads.register::<B>(node.id, g);
                    }
                }
            }
        }

        let nodes = [x.node(), gamma.node(), beta.node()];
        let (x, gamma, beta) = (
            x.into_primitive(),
            gamma.into_primitive(),
            beta.into_primitive(),
        );
        let (out, mean, variance) =
            B::fast_bn_train_act(x.clone(), gamma.clone(), beta.clone(), epsilon, act);
        let stats = (
            <Self as AutodiffBackend>::from_inner(mean.clone()),
            <Self as AutodiffBackend>::from_inner(variance.clone()),
        );
        let out = match BnTrainAct.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                prep.finish((x, gamma, beta, mean, variance, epsilon, act), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(out),
        };
        (out, stats.0, stats.1)
    }
}
