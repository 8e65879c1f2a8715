"""`python -m bench profile`: a user's task run alone, what a call is made
of, and the pool and -c it predicts."""

from bench.commands import ProfileRequest
from bench.commands.run import progress_bar
from bench.measure import runner
from bench.measure.profile import profile_task, write_profile
from bench.output.profile import profile_table


def execute(request: ProfileRequest) -> int:
    with runner.services_for(request.config) as (broker, _stub), progress_bar() as progress:
        doc = profile_task(request.config, broker, progress, request.budget)
    write_profile(request.json_path, doc)
    print(profile_table(doc))
    print(f"\nprofile: {request.json_path}")
    return 0
