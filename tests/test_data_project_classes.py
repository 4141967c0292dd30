"""A transform pipeline given to the project's own Dataset, or holding the project's own
transform, defined in another file of the run: the data facts read those classes through
the project index."""

from __future__ import annotations

import json

DATASETS = '''
import random

import torch
from PIL import Image
from torch.utils.data import Dataset


class PlacesDataset(Dataset):
    def __init__(self, paths, transform=None):
        self.paths, self.transform = paths, transform

    def __getitem__(self, index):
        return self.transform(Image.open(self.paths[index]))

    def __len__(self):
        return len(self.paths)


class RandomNoise:
    def __init__(self, p=0.5, std=0.1):
        self.p, self.std = p, std

    def __call__(self, img):
        if random.random() <= self.p:
            return img + torch.empty(img.size()).normal_(0, self.std)
        return img


class Standardize:
    def __call__(self, img):
        return (img - img.mean()) / img.std()
'''

TRAIN = '''
from torch.utils.data import DataLoader
from torchvision.transforms import Compose, RandomHorizontalFlip, ToTensor

from utils.data import PlacesDataset, {step}

tf = Compose([RandomHorizontalFlip(), ToTensor(), {step}()])
train_dataset = PlacesDataset(["a.jpg"], transform=tf)
train_loader = DataLoader(train_dataset, batch_size=8, shuffle=True)
'''


def _findings(project, *args):
    result = project.run("check", "--output-format", "json", *args)
    return [(f["filename"], f["location"]["row"], f["code"]) for f in json.loads(result.output)]


def test_pipeline_for_a_project_dataset_that_opens_images(project):
    project.write("utils/__init__.py", "")
    project.write("utils/data.py", DATASETS)
    project.write("train.py", TRAIN.format(step="RandomNoise"))
    assert ("train.py", 6, "TL102") in _findings(project, ".")


def test_project_transform_that_standardizes_counts_as_normalization(project):
    project.write("utils/__init__.py", "")
    project.write("utils/data.py", DATASETS)
    project.write("train.py", TRAIN.format(step="Standardize"))
    assert not [f for f in _findings(project, ".") if f[2] == "TL102"]
