# Reference numbers for tests/test_subgroups.py (npc_lib.stats.subgroups).
# Run from the repository root:  Rscript tests/data/subgroups_reference.R
# Writes tests/data/subgroups_reference.json. The tests read the JSON only; they never call R.
# R 4.2.2, survival 3.5-3 (Debian bookworm r-base-core, r-cran-survival).
suppressPackageStartupMessages(library(survival))

num <- function(x) if (length(x) == 0 || is.na(x)) NULL else signif(unname(x), 15)
fmt <- function(x) {
  if (is.null(x)) return("null")
  if (is.list(x)) {
    if (!is.null(names(x))) {
      parts <- vapply(names(x), function(k) paste0('"', k, '": ', fmt(x[[k]])), "")
      return(paste0("{", paste(parts, collapse = ", "), "}"))
    }
    return(paste0("[", paste(vapply(x, fmt, ""), collapse = ", "), "]"))
  }
  if (is.character(x)) return(paste0('"', x, '"'))
  if (is.logical(x)) return(ifelse(x, "true", "false"))
  if (length(x) > 1) return(paste0("[", paste(vapply(as.list(x), fmt, ""), collapse = ", "), "]"))
  if (is.na(x) || is.infinite(x)) return("null")
  trimws(formatC(x, digits = 15, format = "g"))
}

# within one subgroup level: coxph(Surv ~ group) and survdiff, or the counts only
level_fit <- function(d, ties) {
  out <- list(n_low = sum(d$group == 0), n_high = sum(d$group == 1),
              events_low = sum(d$status[d$group == 0]), events_high = sum(d$status[d$group == 1]))
  if (out$n_low == 0 || out$n_high == 0 || out$events_low == 0 || out$events_high == 0) {
    out$estimable <- FALSE
    return(out)
  }
  warned <- character(0)
  f <- withCallingHandlers(coxph(Surv(time, status) ~ group, data = d, ties = ties),
                           warning = function(w) { warned <<- c(warned, conditionMessage(w))
                                                   invokeRestart("muffleWarning") })
  s <- summary(f)$coefficients
  ci <- summary(f)$conf.int
  lr <- survdiff(Surv(time, status) ~ group, data = d)
  c(out, list(estimable = TRUE, monotone = length(warned) > 0, coef = num(s[1, "coef"]), se = num(s[1, "se(coef)"]),
              hr = num(ci[1, "exp(coef)"]), hr_lower = num(ci[1, "lower .95"]),
              hr_upper = num(ci[1, "upper .95"]), p_wald = num(s[1, "Pr(>|z|)"]),
              logrank_chisq = num(lr$chisq), logrank_p = num(pchisq(lr$chisq, 1, lower.tail = FALSE))))
}

# LRT of group x subgroup: anova(coxph(~ group + sub), coxph(~ group * sub))
interaction <- function(d, ties) {
  warned <- character(0)
  fits <- withCallingHandlers({
    f0 <- coxph(Surv(time, status) ~ group + factor(sub), data = d, ties = ties)
    f1 <- coxph(Surv(time, status) ~ group * factor(sub), data = d, ties = ties)
    list(f0, f1)
  }, warning = function(w) { warned <<- c(warned, conditionMessage(w)); invokeRestart("muffleWarning") })
  a <- anova(fits[[1]], fits[[2]])
  list(chisq = num(a$Chisq[2]), df = as.integer(a$Df[2]), p = num(a[["Pr(>|Chi|)"]][2]),
       loglik_reduced = num(fits[[1]]$loglik[2]), loglik_full = num(fits[[2]]$loglik[2]),
       coef_full = as.list(sapply(coef(fits[[2]]), num)), warnings = as.list(warned))
}

case <- function(name, d, note) {
  res <- list(description = note, n = nrow(d), events = sum(d$status))
  for (ties in c("efron", "breslow")) {
    levels <- list()
    for (lv in sort(unique(d$sub))) levels[[as.character(lv)]] <- level_fit(d[d$sub == lv, ], ties)
    res[[ties]] <- list(levels = levels, interaction = interaction(d, ties))
  }
  res
}

lung <- read.csv("tests/data/lung.csv")
lung$group <- read.csv("tests/data/lung_derived.csv")$high_risk
vet <- read.csv("tests/data/veteran.csv")
vet$group <- read.csv("tests/data/veteran_derived.csv")$high_risk
vet$sub <- with(vet, ifelse(cell_smallcell == 1, 1, ifelse(cell_adeno == 1, 2, ifelse(cell_large == 1, 3, 0))))

cases <- list()
cases$lung_sex <- case("lung_sex", transform(lung, sub = female),
                       "lung, group = high_risk (lung_derived.csv), subgroup = female")
cases$lung_ecog <- case("lung_ecog", transform(lung, sub = ph_ecog),
                        "lung, subgroup = ph_ecog (0-3); ph_ecog 3 has no low-risk patient (aliased interaction)")
cases$lung_sex_noevent <- case("lung_sex_noevent",
                               transform(lung, sub = female, status = status * (1 - group * female)),
                               "lung, subgroup = female, status set to 0 where group = 1 and female = 1")
cases$veteran_cell <- case("veteran_cell", transform(vet, sub = sub),
                           "veteran, group = high_risk (veteran_derived.csv), subgroup = cell type (0 squamous, 1 smallcell, 2 adeno, 3 large)")

out <- list(source = "tests/data/subgroups_reference.R",
            versions = list(R = R.version.string, survival = as.character(packageVersion("survival"))),
            cases = cases)
writeLines(fmt(out), "tests/data/subgroups_reference.json")
