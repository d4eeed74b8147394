import torch

from vatex_core.clip_prior import center_crop_square


@torch.no_grad()
def test_permuting_the_batch_permutes_the_priors(tiny_model):
    torch.manual_seed(1)
    frames = torch.rand(3, 1, 3, 64, 64)
    expressions = ["the red circle", "a green star", "the big blue square"]
    out = tiny_model(frames, tiny_model.encode_text(expressions))
    order = [2, 0, 1]
    permuted = tiny_model(frames[order], tiny_model.encode_text([expressions[i] for i in order]))
    assert torch.allclose(permuted["prior_heatmap"], out["prior_heatmap"][order], atol=1e-5)
    assert not torch.allclose(out["prior_heatmap"][0], out["prior_heatmap"][1], atol=1e-3)


@torch.no_grad()
def test_each_expression_gets_the_prior_of_its_own_image(tiny_model):
    # Two images, two expressions each: rows 0,1 belong to image 0 and rows 2,3 to image 1.
    torch.manual_seed(2)
    frames = torch.rand(2, 1, 3, 64, 64)
    expressions = ["a circle", "a star", "a ring", "a square"]
    together = tiny_model(frames, tiny_model.encode_text(expressions))["prior_heatmap"]
    for row, expression in enumerate(expressions):
        alone = tiny_model(frames[row // 2 : row // 2 + 1], tiny_model.encode_text([expression]))["prior_heatmap"]
        assert torch.allclose(together[row], alone[0], atol=1e-5), row


@torch.no_grad()
def test_video_prior_is_the_mean_of_the_frame_heatmaps(tiny_model):
    torch.manual_seed(3)
    clip = torch.rand(1, 3, 3, 64, 64)
    text = tiny_model.encode_text(["the moving triangle"])
    prior = tiny_model.clip_prior
    patches = prior.patch_embeddings(clip[0])[None]  # (1, T, P, D)
    per_frame = prior.heatmap(patches, text.prompt)  # (1, T, P)
    out = tiny_model(clip, text)
    assert torch.allclose(out["prior_heatmap"].flatten(1), per_frame.mean(1), atol=1e-5)
    # each frame's heatmap has unit L2 norm (paper eq. 1)
    assert torch.allclose(per_frame.norm(dim=-1), torch.ones(1, 3), atol=1e-5)


def test_center_crop_keeps_the_middle_of_a_wide_image():
    image = torch.zeros(1, 3, 100, 300)
    image[..., 100:200] = 1.0  # the middle third is white
    crop = center_crop_square(image, 50)
    assert crop.shape == (1, 3, 50, 50)
    assert crop.min() > 0.99
