fn main() -> std::process::ExitCode {
    cg_runtime::kit::main::<jobs::JobsService>()
}
