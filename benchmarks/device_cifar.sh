#!/usr/bin/env bash
# Issue 2 on a CUDA machine: CUDA-path checks, then CIFAR-10 ResNet-56 -> ResNet-20 arms (scratch, kd, au) run side
# by side on one GPU at equal epochs, the teacher adapted to the JPEG copy first (teacher.head=ft).
#   DATA=dir with cifar10_jpeg.npz and resnet56-4bfd9763.th   OUTDIR=where run dirs go   EPOCHS (default: sized
#   from a 1-epoch DDP probe to fit ARM_BUDGET_S seconds)  ARMS (default: scratch kd au)
set -u
C=configs/cifar10_resnet56_to_resnet20.yaml
R=${OUTDIR:-runs/device}
mkdir -p "$R"
D=(--set "data.source=$DATA/cifar10_jpeg.npz" --set "teacher.weights=$DATA/resnet56-4bfd9763.th"
   --set train.accelerator=gpu --set train.num_workers=5 --set train.progress=false)
python3 -c "import torch, transformers, lightning, timm, torchvision, pyarrow, datasets, pydantic; \
print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0), 'transformers', \
transformers.__version__, 'lightning', lightning.__version__, 'timm', timm.__version__, 'pyarrow', pyarrow.__version__)"
if [ -z "${EPOCHS:-}" ] || [ "${CHECK_DDP:-0}" = 1 ]; then
  echo "== check: DDP strategy on one GPU, bf16-mixed, channels_last, 1 epoch"
  python3 -m distillery.cli run $C "${D[@]}" --set train.strategy=ddp --set train.epochs=1 --set "output.dir=$R/ddp1" -q
fi
echo "== check: timm teacher from a local checkpoint (no download), fine-tuned 1 epoch -> torchvision student"
python3 -c "import timm, torch; torch.manual_seed(0); \
torch.save(timm.create_model('resnet18', num_classes=10).state_dict(), '$R/timm_resnet18.pth')"
python3 -m distillery.cli run $C "${D[@]}" --set teacher.model=timm:resnet18 --set "teacher.weights=$R/timm_resnet18.pth" \
  --set teacher.head=ft --set teacher.head_epochs=1 --set student.model=torchvision:mobilenet_v3_small \
  --set data.shots_per_class=200 --set train.epochs=1 --set "output.dir=$R/timm_tv" -q
T1=${T1:-$(python3 -c "import json; print(json.load(open('$R/ddp1/metrics.json'))['train']['train_time_s'])")}
E=${EPOCHS:-$(python3 -c "print(max(3, min(60, int(${ARM_BUDGET_S:-330} / (1.7 * $T1)))))")}
echo "== arms: 1-epoch probe took ${T1}s -> $E epochs each, side by side"
for m in ${ARMS:-scratch kd au}; do
  python3 -m distillery.cli run $C "${D[@]}" -m $m --set train.epochs=$E --set teacher.head=ft \
    --set teacher.head_epochs=${HEAD_EPOCHS:-3} --set teacher.head_lr=0.0001 --set "output.dir=$R/c10_e${E}_$m" -q \
    > "$R/c10_e${E}_$m.log" 2>&1 &
done
wait
for m in ${ARMS:-scratch kd au}; do echo "-- $m"; tail -3 "$R/c10_e${E}_$m.log"; done
