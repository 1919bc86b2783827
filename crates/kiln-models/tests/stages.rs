//! Stages partition the parameters: each parameter belongs to exactly one stage, head last.

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::tensor::{Device, Tensor};
use kiln_models::{Arch, create};

#[derive(Default)]
struct Ids(Vec<ParamId>);

impl ModuleVisitor for Ids {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push(param.id);
    }
}

#[test]
fn stages_partition_every_parameter() {
    let device = Device::flex();
    for arch in Arch::ALL {
        let model = arch.create(3, &device).unwrap();
        let stages = model.stages();
        assert_eq!(
            stages.last().map(|s| s.name.as_str()),
            Some("head"),
            "{arch}"
        );
        let mut ids = Ids::default();
        model.visit(&mut ids);
        assert!(!ids.0.is_empty());
        for id in &ids.0 {
            let owners: Vec<_> = stages
                .iter()
                .filter(|s| s.group.matches(id, None))
                .map(|s| s.name.clone())
                .collect();
            assert_eq!(owners.len(), 1, "{arch}: parameter in stages {owners:?}");
        }
        // The head group is exactly the classifier's parameters.
        let head = model.head_group();
        let in_head = ids.0.iter().filter(|id| head.matches(id, None)).count();
        assert_eq!(in_head, 2, "{arch}: classifier weight and bias");
        assert_eq!(model.num_classes(), 3);
        assert_eq!(model.arch(), *arch);
    }
}

#[test]
fn reset_head_changes_only_the_classifier() {
    let device = Device::flex();
    let mut model = create("resnet18", 1000, &device).unwrap();
    let x = Tensor::<4>::ones([1, 3, 32, 32], &device);
    let before = model.forward_features(x.clone()).into_data();
    model.reset_head(4, &device);
    assert_eq!(model.num_classes(), 4);
    assert_eq!(model.forward(x.clone()).dims(), [1, 4]);
    assert_eq!(model.forward_features(x).into_data(), before);
}
