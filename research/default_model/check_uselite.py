"""Check the PyTorch USE-lite against the TF.js golden vectors of USE-LITE.md §1.6."""
import torch, uselite, model
torch.set_num_threads(1)
tok = uselite.Tokenizer()
m = model.load_use_lite().eval()
S = ['the movie was wonderful and moving .', 'a dull , tedious mess of a film', 'How old are you?']
gold = [[0.008046, 0.026219, 0.033241, -0.040855, 0.000300, -0.025943],
        [-0.002547, -0.069924, 0.007236, -0.041317, 0.039167, -0.070350],
        [0.038685, 0.050444, -0.045524, 0.056079, -0.060077, -0.055097]]
ids, mask = model.batchify([tok.encode(s) for s in S])
with torch.no_grad():
    e = m.sentence(ids, mask)
err = (e[:, :6] - torch.tensor(gold)).abs().max().item()
print('max |d| first 6 dims:', err, 'dots', (e[0] @ e[1]).item(), (e[0] @ e[2]).item(), (e[1] @ e[2]).item())
assert err < 1e-5
print('OK')
