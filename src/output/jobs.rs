//! Writing a run's independent files concurrently: a list of [`WriteJob`]s, each writing
//! one file (or a few) into the output folder and returning the names it wrote, run by
//! [`run_jobs`] on rayon's pool. The names come back in the order of the list, whatever
//! order the jobs finish in, and so does the error: when several jobs fail, the error of
//! the first failing job in the list is returned (every job runs to its end either way;
//! the caller's [`super::OutputDir`] removes the temp folder on an error, as before).
//!
//! A job made with [`WriteJob::here`] runs on the calling thread (serially, in list
//! order) while the pool runs the others: work that must stay on that thread, such as
//! anything that may call MPI (a continuum threshold solved on the distributed backend).

use rayon::prelude::*;

use crate::error::Result;

type PoolJob<'a> = Box<dyn FnOnce() -> Result<Vec<String>> + Send + 'a>;
type HereJob<'a> = Box<dyn FnOnce() -> Result<Vec<String>> + 'a>;

/// One piece of output: a closure that writes its files and returns their names.
pub struct WriteJob<'a>(Kind<'a>);

enum Kind<'a> {
    Pool(PoolJob<'a>),
    Here(HereJob<'a>),
}

impl<'a> WriteJob<'a> {
    /// A job that writes one file, `name`, by `write` (on the pool).
    pub fn file(name: impl Into<String>, write: impl FnOnce() -> Result<()> + Send + 'a) -> WriteJob<'a> {
        let name = name.into();
        WriteJob(Kind::Pool(Box::new(move || write().map(|()| vec![name]))))
    }

    /// A job that writes any number of files and returns their names (on the pool).
    pub fn files(write: impl FnOnce() -> Result<Vec<String>> + Send + 'a) -> WriteJob<'a> {
        WriteJob(Kind::Pool(Box::new(write)))
    }

    /// A job that runs on the calling thread of [`run_jobs`], beside the pool's.
    pub fn here(write: impl FnOnce() -> Result<Vec<String>> + 'a) -> WriteJob<'a> {
        WriteJob(Kind::Here(Box::new(write)))
    }
}

/// Run `jobs` concurrently and return the names of the files they wrote, in list order;
/// on failure, the error of the first job in the list that failed.
pub fn run_jobs(jobs: Vec<WriteJob<'_>>) -> Result<Vec<String>> {
    let mut pool: Vec<(usize, PoolJob<'_>)> = Vec::new();
    let mut here: Vec<(usize, HereJob<'_>)> = Vec::new();
    for (i, WriteJob(k)) in jobs.into_iter().enumerate() {
        match k {
            Kind::Pool(f) => pool.push((i, f)),
            Kind::Here(f) => here.push((i, f)),
        }
    }
    let run_pool = |pool: Vec<(usize, PoolJob<'_>)>| -> Vec<(usize, Result<Vec<String>>)> { pool.into_par_iter().map(|(i, f)| (i, f())).collect() };
    let mut done: Vec<(usize, Result<Vec<String>>)> = if here.is_empty() {
        run_pool(pool)
    } else {
        std::thread::scope(|s| {
            let handle = s.spawn(move || run_pool(pool));
            let mut done: Vec<(usize, Result<Vec<String>>)> = here.into_iter().map(|(i, f)| (i, f())).collect();
            match handle.join() {
                Ok(d) => done.extend(d),
                Err(panic) => std::panic::resume_unwind(panic),
            }
            done
        })
    };
    done.sort_by_key(|d| d.0);
    let mut names = Vec::new();
    for (_, r) in done {
        names.extend(r?);
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::QdError;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn names_in_list_order_and_the_first_error_of_the_list_wins() {
        let ran = AtomicUsize::new(0);
        let slow = |name: &'static str, ms: u64| {
            let ran = &ran;
            WriteJob::file(name, move || {
                std::thread::sleep(std::time::Duration::from_millis(ms));
                ran.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
        };
        let here_thread = std::thread::current().id();
        let jobs = vec![
            slow("a", 30),
            WriteJob::here(move || {
                assert_eq!(std::thread::current().id(), here_thread);
                Ok(vec!["b1".into(), "b2".into()])
            }),
            slow("c", 0),
            WriteJob::files(|| Ok(vec!["d".into()])),
        ];
        assert_eq!(run_jobs(jobs).unwrap(), ["a", "b1", "b2", "c", "d"]);
        assert_eq!(ran.load(Ordering::SeqCst), 2);
        // the later job fails first in time; the earlier one's error is returned, and
        // every job ran
        for _ in 0..3 {
            let ran = AtomicUsize::new(0);
            let fail = |what: &'static str, ms: u64| {
                let ran = &ran;
                WriteJob::file(what, move || {
                    std::thread::sleep(std::time::Duration::from_millis(ms));
                    ran.fetch_add(1, Ordering::SeqCst);
                    Err(QdError::Internal(format!("{what} failed")))
                })
            };
            let jobs = vec![WriteJob::file("ok", || Ok(())), fail("first", 40), WriteJob::here(|| Ok(vec![])), fail("second", 0)];
            assert_eq!(run_jobs(jobs).unwrap_err().to_string(), QdError::Internal("first failed".into()).to_string());
            assert_eq!(ran.load(Ordering::SeqCst), 2);
        }
        assert!(run_jobs(Vec::new()).unwrap().is_empty());
    }
}
