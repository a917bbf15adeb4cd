fn main() {
    std::process::exit(qdsim_gpu::cli::main());
}
