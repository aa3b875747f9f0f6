package dev.tandem.engine.model;

import dev.tandem.engine.gguf.GgufFile;
import dev.tandem.engine.gguf.Quantizer;

/**
 * A deliberately plain forward pass in double precision, written from the model equations with
 * no paging, tiling or vector code, over weights decoded by the GGUF module's own dequantiser:
 * the oracle for {@link Transformer}. It recomputes the whole sequence for every call.
 */
final class ReferenceForward {
    private final GgufFile gguf;
    private final ModelConfig c;
    private final float[] freqFactors;
    private final boolean neox;

    ReferenceForward(GgufFile gguf, float[] freqFactors) {
        this.gguf = gguf;
        this.c = ModelConfig.from(gguf);
        this.freqFactors = freqFactors;
        this.neox = c.architecture().equals("qwen2");
    }

    private double[][] matrix(String name) {
        float[] flat = Quantizer.dequantize(gguf.tensor(name));
        int cols = (int) gguf.tensor(name).cols();
        int rows = flat.length / cols;
        double[][] m = new double[rows][cols];
        for (int r = 0; r < rows; r++) {
            for (int k = 0; k < cols; k++) {
                m[r][k] = flat[r * cols + k];
            }
        }
        return m;
    }

    private double[] vector(String name) {
        if (gguf.tensorOrNull(name) == null) {
            return null;
        }
        float[] f = Quantizer.dequantize(gguf.tensor(name));
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            d[i] = f[i];
        }
        return d;
    }

    private static double[] matvec(double[][] w, double[] x, double[] bias) {
        double[] y = new double[w.length];
        for (int r = 0; r < w.length; r++) {
            double s = bias == null ? 0 : bias[r];
            for (int k = 0; k < x.length; k++) {
                s += w[r][k] * x[k];
            }
            y[r] = s;
        }
        return y;
    }

    private double[] rmsNorm(double[] x, double[] weight) {
        double ss = 0;
        for (double v : x) {
            ss += v * v;
        }
        double scale = 1 / Math.sqrt(ss / x.length + c.rmsEps());
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            y[i] = x[i] * scale * weight[i];
        }
        return y;
    }

    private void rope(double[] v, int heads, int pos) {
        int hd = c.headDim();
        int half = c.ropeDim() / 2;
        for (int h = 0; h < heads; h++) {
            for (int i = 0; i < half; i++) {
                double freq = Math.pow(c.ropeBase(), -2.0 * i / c.ropeDim());
                if (freqFactors != null) {
                    freq /= freqFactors[i];
                }
                double angle = pos * freq;
                int a = h * hd + (neox ? i : 2 * i);
                int b = neox ? a + half : a + 1;
                double x0 = v[a];
                double x1 = v[b];
                v[a] = x0 * Math.cos(angle) - x1 * Math.sin(angle);
                v[b] = x0 * Math.sin(angle) + x1 * Math.cos(angle);
            }
        }
    }

    /** Logits at every position of {@code ids}: [position][vocab]. */
    double[][] logits(int[] ids) {
        int n = ids.length;
        int dim = c.embeddingDim();
        int hd = c.headDim();
        int group = c.headCount() / c.kvHeadCount();
        double[][] embedding = matrix("token_embd.weight");
        double[][] x = new double[n][];
        for (int t = 0; t < n; t++) {
            x[t] = embedding[ids[t]].clone();
        }
        for (int l = 0; l < c.layerCount(); l++) {
            String p = "blk." + l + ".";
            double[][] wq = matrix(p + "attn_q.weight");
            double[][] wk = matrix(p + "attn_k.weight");
            double[][] wv = matrix(p + "attn_v.weight");
            double[][] wo = matrix(p + "attn_output.weight");
            double[][] q = new double[n][];
            double[][] k = new double[n][];
            double[][] v = new double[n][];
            for (int t = 0; t < n; t++) {
                double[] xb = rmsNorm(x[t], vector(p + "attn_norm.weight"));
                q[t] = matvec(wq, xb, vector(p + "attn_q.bias"));
                k[t] = matvec(wk, xb, vector(p + "attn_k.bias"));
                v[t] = matvec(wv, xb, vector(p + "attn_v.bias"));
                rope(q[t], c.headCount(), t);
                rope(k[t], c.kvHeadCount(), t);
            }
            for (int t = 0; t < n; t++) {
                double[] att = new double[c.queryDim()];
                for (int h = 0; h < c.headCount(); h++) {
                    int g = h / group;
                    double[] scores = new double[t + 1];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j <= t; j++) {
                        double s = 0;
                        for (int d = 0; d < hd; d++) {
                            s += q[t][h * hd + d] * k[j][g * hd + d];
                        }
                        scores[j] = s / Math.sqrt(hd);
                        max = Math.max(max, scores[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j <= t; j++) {
                        scores[j] = Math.exp(scores[j] - max);
                        sum += scores[j];
                    }
                    for (int j = 0; j <= t; j++) {
                        for (int d = 0; d < hd; d++) {
                            att[h * hd + d] += scores[j] / sum * v[j][g * hd + d];
                        }
                    }
                }
                double[] o = matvec(wo, att, null);
                for (int i = 0; i < dim; i++) {
                    x[t][i] += o[i];
                }
                double[] xb = rmsNorm(x[t], vector(p + "ffn_norm.weight"));
                double[] gate = matvec(matrix(p + "ffn_gate.weight"), xb, null);
                double[] up = matvec(matrix(p + "ffn_up.weight"), xb, null);
                for (int i = 0; i < gate.length; i++) {
                    gate[i] = gate[i] / (1 + Math.exp(-gate[i])) * up[i];
                }
                double[] down = matvec(matrix(p + "ffn_down.weight"), gate, null);
                for (int i = 0; i < dim; i++) {
                    x[t][i] += down[i];
                }
            }
        }
        double[][] out = gguf.tensorOrNull("output.weight") == null ? embedding : matrix("output.weight");
        double[][] logits = new double[n][];
        for (int t = 0; t < n; t++) {
            logits[t] = matvec(out, rmsNorm(x[t], vector("output_norm.weight")), null);
        }
        return logits;
    }
}
