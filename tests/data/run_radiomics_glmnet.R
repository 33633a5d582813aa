# Reference for npc_lib.radiomics.select.cv_coxnet: cv.glmnet (Cox lasso) on
# radiomics_glmnet.csv with the given lambda path and folds.
# Rscript tests/data/run_radiomics_glmnet.R  (from the repository root; writes radiomics_glmnet.json)
suppressPackageStartupMessages({library(glmnet); library(survival)})
num <- function(v) paste0("[", paste(sprintf("%.15g", v), collapse = ", "), "]")
d <- read.csv("tests/data/radiomics_glmnet.csv")
lam <- read.csv("tests/data/radiomics_glmnet_lambda.csv")$lambda
x <- as.matrix(d[, grep("^x", names(d))])
y <- Surv(d$time, d$event)
cv <- cv.glmnet(x, y, family = "cox", alpha = 1, lambda = lam, foldid = d$foldid,
                grouped = TRUE, standardize = TRUE, thresh = 1e-14, maxit = 1e6)
fit <- glmnet(x, y, family = "cox", alpha = 1, lambda = lam, standardize = TRUE, thresh = 1e-14, maxit = 1e6)
sds <- apply(x, 2, function(v) sqrt(mean((v - mean(v))^2)))
beta <- sapply(seq_along(lam), function(j) num(as.numeric(fit$beta[, j]) * sds))
writeLines(c("{",
  sprintf('  "glmnet": "%s", "R": "%s",', packageVersion("glmnet"), R.version.string),
  sprintf('  "lambda": %s,', num(cv$lambda)), sprintf('  "cvm": %s,', num(cv$cvm)),
  sprintf('  "cvsd": %s,', num(cv$cvsd)),
  sprintf('  "lambda_min": %.15g, "lambda_1se": %.15g,', cv$lambda.min, cv$lambda.1se),
  sprintf('  "beta_std": [%s]', paste(beta, collapse = ", ")), "}"),
  "tests/data/radiomics_glmnet.json")
