"""The synthetic world written the way real systems export it, to try a mapping end to end
before pointing it at a team's own files (`mqlscore generate --as salesforce`, `hubspot`,
`marketo`).

Salesforce: the data export's CSVs with API field names, with the weekly export's quirks:
`000000000000000AAA` in every empty lookup, date-only CloseDate, a header-only
Event.csv (meetings logged as tasks), and tasks on no one (dropped, counted). People
on a deal are converted leads: a Lead row (IsConverted, ConvertedContactId,
ConvertedOpportunityId) plus their Contact, and everything after conversion (campaign
responses, tasks, deal roles) points at the Contact. The lead's account before
conversion is the custom lookup `Account__c`; `salesforce-converted` is an org without
it, whose leads get an account only when converted (`ConvertedAccountId`). Campaign.csv
carries each campaign's Type, StartDate, BudgetedCost and ActualCost (where the tables
given hold campaigns); Marketo's demo keeps it, as a program synced to its campaign.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mqlscore.io import write_text
from mqlscore.refusal import Refusal

SF_ROLES = {
    "economic_buyer": "Economic Buyer",
    "champion": "Decision Maker",
    "evaluator": "Evaluator",
    "user": "Business User",
    "procurement": "Procurement",
    "other": "Other",
}
SF_STATUS = {  # CampaignMember.Status per kind of touch
    "email_open": "Opened",
    "email_click": "Clicked",
    "web_visit": "Visited",
    "pricing_page_visit": "Visited Pricing Page",
    "content_download": "Downloaded",
    "form_fill": "Submitted Form",
    "webinar_attend": "Attended",
    "event_scan": "Scanned at Booth",
    "ad_click": "Clicked Ad",
}


EMPTY_ID = "000000000000000AAA"  # Salesforce's weekly export writes this in empty lookups


def _lookup(ids: pd.Series) -> pd.Series:
    """A lookup field as the weekly Data Export writes it: the empty id where blank."""
    return ids.where(ids.notna() & (ids != ""), EMPTY_ID)


def sf_time(values: pd.Series) -> pd.Series:
    """Salesforce's datetime spelling: 2025-10-01T10:00:00.000+0000 (blank when missing)."""
    text = values.dt.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    return text.where(values.notna(), "")


def _contact_id(lead_ids: pd.Series) -> pd.Series:
    return "003" + lead_ids.str[1:]


def salesforce_files(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The world's canonical tables as Salesforce export files (name -> frame)."""
    leads, roles = tables["leads"], tables["opportunity_contacts"]
    converted = leads["lead_id"].isin(roles["lead_id"])
    contact = _contact_id(leads["lead_id"]).where(converted, "")
    who = dict(zip(leads["lead_id"], contact.where(converted, leads["lead_id"]), strict=True))
    first_deal = roles.drop_duplicates("lead_id").set_index("lead_id")["opportunity_id"]
    accounts = tables["accounts"]
    opportunities = tables["opportunities"]
    closed = opportunities["closed_at"].notna()
    won = opportunities["is_won"].fillna(False).astype(bool)
    engagement, sales = tables["engagement"], tables["sales_activities"]
    member = engagement["lead_id"].map(who)
    is_contact = member.str.startswith("003")
    return {
        "Account.csv": pd.DataFrame(
            {
                "Id": accounts["account_id"],
                "Name": accounts["name"],
                "Website": accounts["domain"],
                "Industry": accounts["industry"],
                "NumberOfEmployees": accounts["employees"],
                "AnnualRevenue": accounts["annual_revenue"],
                "BillingCountry": accounts["country"],
                "Target_Account__c": np.where(accounts["is_target_account"], "true", "false"),
            }
        ),
        "Lead.csv": pd.DataFrame(
            {
                "Id": leads["lead_id"],
                "Email": leads["email"],
                "Title": leads["title"],
                "Company": leads["company"],
                "LeadSource": leads["lead_source"],
                "CreatedDate": sf_time(leads["created_at"]),
                "Lead_Score__c": leads["marketing_score"],
                "MQL_Date__c": sf_time(leads["mql_at"]),
                "Account__c": _lookup(leads["account_id"]),
                "IsConverted": np.where(converted, "true", "false"),
                "ConvertedContactId": _lookup(contact),
                "ConvertedAccountId": _lookup(leads["account_id"].where(converted)),
                "ConvertedOpportunityId": _lookup(leads["lead_id"].map(first_deal)),
            }
        ),
        "Contact.csv": pd.DataFrame(
            {
                "Id": contact[converted],
                "AccountId": _lookup(leads.loc[converted, "account_id"]),
                "Email": leads.loc[converted, "email"],
                "Title": leads.loc[converted, "title"],
                "LeadSource": leads.loc[converted, "lead_source"],
                "CreatedDate": sf_time(leads.loc[converted, "created_at"]),
            }
        ),
        "Opportunity.csv": pd.DataFrame(
            {
                "Id": opportunities["opportunity_id"],
                "AccountId": opportunities["account_id"],
                "CreatedDate": sf_time(opportunities["created_at"]),
                "CloseDate": opportunities["closed_at"].dt.strftime("%Y-%m-%d").fillna(""),
                "IsClosed": np.where(closed, "true", "false"),
                "IsWon": np.where(won, "true", "false"),
                "StageName": np.select(
                    [won, closed], ["Closed Won", "Closed Lost"], default="Prospecting"
                ),
                "Amount": opportunities["amount"],
            }
        ),
        "OpportunityContactRole.csv": pd.DataFrame(
            {
                "OpportunityId": roles["opportunity_id"],
                "ContactId": _contact_id(roles["lead_id"]),
                "Role": roles["role"].map(SF_ROLES),
                "CreatedDate": sf_time(roles["created_at"]),
            }
        ),
        "CampaignMember.csv": pd.DataFrame(
            {
                "Id": engagement["event_id"],
                "CampaignId": engagement["campaign_id"],
                "LeadId": _lookup(member.where(~is_contact, "")),
                "ContactId": _lookup(member.where(is_contact, "")),
                "Status": engagement["activity_type"].map(SF_STATUS),
                "FirstRespondedDate": sf_time(engagement["occurred_at"]),
            }
        ),
        "Task.csv": _tasks(sales, who),
        "Event.csv": pd.DataFrame(columns=["Id", "WhoId", "AccountId", "ActivityDateTime"]),
    } | _campaign_file(tables.get("campaigns"))


def _campaign_file(campaigns: pd.DataFrame | None) -> dict[str, pd.DataFrame]:
    """Campaign.csv as the Data Export writes it (the standard fields of Salesforce's own
    sample, in its order; dates as dates), where the world has campaigns."""
    if campaigns is None:
        return {}
    start = campaigns["started_at"]
    end = start + pd.offsets.MonthEnd(0)
    return {
        "Campaign.csv": pd.DataFrame(
            {
                "Id": campaigns["campaign_id"],
                "IsDeleted": "",
                "Name": campaigns["type"] + " " + start.dt.strftime("%B %Y"),
                "ParentId": "",
                "Type": campaigns["type"],
                "Status": "Completed",
                "StartDate": start.dt.strftime("%Y-%m-%d"),
                "EndDate": end.dt.strftime("%Y-%m-%d"),
                "ExpectedRevenue": "",
                "BudgetedCost": campaigns["budgeted_cost"],
                "ActualCost": campaigns["actual_cost"],
                "IsActive": "false",
            }
        )
    }


def _tasks(sales: pd.DataFrame, who: dict[str, str]) -> pd.DataFrame:
    """Calls, emails and meetings as Task rows (TaskSubtype, and Type for meetings, as
    orgs that log meetings as tasks fill it; AccountId where the world names one), plus
    a few reminders on no one (dropped on the way in, counted)."""
    logged = pd.DataFrame(
        {
            "Id": sales["activity_id"],
            "WhoId": _lookup(sales["lead_id"].map(who)),
            "AccountId": _lookup(sales["account_id"]),
            "Type": sales["type"].map({"meeting": "Meeting"}).fillna(""),
            "TaskSubtype": sales["type"].map({"call": "Call", "email": "Email"}).fillna("Task"),
            "CreatedDate": sf_time(sales["occurred_at"]),
        }
    )
    when = sf_time(sales["occurred_at"].head(3))  # reminders beside the first touches
    reminders = pd.DataFrame(
        {"Id": [f"00T_TODO_{i}" for i in range(len(when))], "CreatedDate": when.to_numpy()}
    ).assign(WhoId=EMPTY_ID, AccountId=EMPTY_ID, Type="", TaskSubtype="Task")
    return pd.concat([logged, reminders], ignore_index=True)


def hubspot_time(values: pd.Series) -> pd.Series:
    """HubSpot's export spelling of a datetime: 2025-10-01 10:00:00 (blank when missing)."""
    return values.dt.strftime("%Y-%m-%d %H:%M:%S").where(values.notna(), "")


MQL_ENTERED = 'Date entered "Marketing Qualified Lead (Lifecycle Stage Pipeline)"'
REPEATED = "Associated Company IDs"  # current contact exports name it twice


def hubspot_files(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The world as HubSpot's CRM exports (contacts, companies, deals) with their current
    default column labels, the company association named twice in the contacts' header
    (written as `Associated Company IDs.1`, see `write_demo_export`). HubSpot's CRM
    exports hold no marketing or sales event log."""
    leads, accounts, deals = tables["leads"], tables["accounts"], tables["opportunities"]
    roles = tables["opportunity_contacts"]
    closed = deals["closed_at"].notna()
    won = deals["is_won"].fillna(False).astype(bool)
    contacts = roles.groupby("opportunity_id")["lead_id"].agg(";".join)
    return {
        "hubspot-crm-exports-all-contacts.csv": pd.DataFrame(
            {
                "Record ID": leads["lead_id"],
                "Email": leads["email"],
                "Job Title": leads["title"],
                "Company Name": leads["company"],
                "Associated Company IDs": leads["account_id"],
                f"{REPEATED}.1": leads["account_id"],
                "Original Traffic Source": leads["lead_source"],
                "Create Date": hubspot_time(leads["created_at"]),
                "HubSpot Score": leads["marketing_score"],
                MQL_ENTERED: hubspot_time(leads["mql_at"]),
                "Lifecycle Stage": np.where(
                    leads["mql_at"].notna(), "Marketing Qualified Lead", "Lead"
                ),
            }
        ),
        "hubspot-crm-exports-all-companies.csv": pd.DataFrame(
            {
                "Record ID": accounts["account_id"],
                "Company name": accounts["name"],
                "Company Domain Name": accounts["domain"],
                "Industry": accounts["industry"],
                "Number of Employees": accounts["employees"],
                "Annual Revenue": accounts["annual_revenue"],
                "Country/Region": accounts["country"],
                "Target Account": np.where(accounts["is_target_account"], "Yes", "No"),
            }
        ),
        "hubspot-crm-exports-all-deals.csv": pd.DataFrame(
            {
                "Record ID": deals["opportunity_id"],
                "Deal Stage": np.select(
                    [won, closed], ["Closed Won", "Closed Lost"], default="Qualified To Buy"
                ),
                "Create Date": hubspot_time(deals["created_at"]),
                "Close Date": hubspot_time(deals["closed_at"]),
                "Amount": deals["amount"],
                "Associated Company IDs": deals["account_id"],
                "Associated Contact IDs": deals["opportunity_id"].map(contacts).fillna(""),
            }
        ),
    }


MARKETO_TOUCH = {  # activity -> (activityTypeId, primaryAttributeValue, attributes)
    "email_open": (10, "Newsletter", "{}"),
    "email_click": (11, "Newsletter", "{}"),
    "web_visit": (1, "/product", "{}"),
    "pricing_page_visit": (1, "/pricing", "{}"),
    "content_download": (2, "Whitepaper Download Form", "{}"),
    "form_fill": (2, "Demo Request Form", "{}"),
    # Change Status in Progression: the program in the primary attribute, the status in
    # the attributes JSON
    "webinar_attend": (
        104,
        "Webinar 2025",
        '{"Old Status": "Registered", "New Status": "Attended"}',
    ),
    "event_scan": (104, "Trade Show 2025", '{"New Status": "Visited Booth", "Success": true}'),
    "ad_click": (3, "Paid Social Ad", "{}"),
}


def marketo_files(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The world as a Marketo instance synced with Salesforce exports it: the Bulk Lead
    Extract (API names) and the Bulk Activity Extract from Marketo (Marketo's own numeric
    lead ids, each person's Salesforce id beside it), accounts, deals and sales touches
    from Salesforce."""
    leads, engagement = tables["leads"], tables["engagement"]
    marketo_id = pd.Series(np.arange(1_000_001, 1_000_001 + len(leads)).astype(str))
    by_lead = dict(zip(leads["lead_id"], marketo_id, strict=True))
    touch = engagement["activity_type"].map(MARKETO_TOUCH)
    iso = "%Y-%m-%dT%H:%M:%SZ"
    crm = salesforce_files(tables)
    del crm["CampaignMember.csv"]  # marketing touches come from Marketo
    return crm | {
        "marketo_leads.csv": pd.DataFrame(
            {
                "id": marketo_id,
                "sfdcLeadId": leads["lead_id"].to_numpy(),
                "email": leads["email"].to_numpy(),
                "title": leads["title"].to_numpy(),
                "company": leads["company"].to_numpy(),
                "sfdcAccountId": leads["account_id"].to_numpy(),
                "leadSource": leads["lead_source"].to_numpy(),
                "createdAt": leads["created_at"].dt.strftime(iso).to_numpy(),
                "leadScore": leads["marketing_score"].to_numpy(),
                "mqlDate": leads["mql_at"].dt.strftime(iso).fillna("").to_numpy(),
            }
        ),
        "marketo_activities.csv": pd.DataFrame(
            {
                "marketoGUID": engagement["event_id"],
                "leadId": engagement["lead_id"].map(by_lead),
                "activityDate": engagement["occurred_at"].dt.strftime(iso),
                "activityTypeId": touch.str[0],
                "campaignId": engagement["campaign_id"],
                "primaryAttributeValue": touch.str[1],
                "attributes": touch.str[2],
            }
        ),
    }


def salesforce_converted_files(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Salesforce's export of an org with no account lookup before conversion: a lead's
    account is only its ConvertedAccountId, filled once sales converted it."""
    files = salesforce_files(tables)
    return files | {"Lead.csv": files["Lead.csv"].drop(columns="Account__c")}


WRITERS = {
    "salesforce": salesforce_files,
    "salesforce-converted": salesforce_converted_files,
    "hubspot": hubspot_files,
    "marketo": marketo_files,
}


def write_demo_export(tables: dict[str, pd.DataFrame], system: str, out: Path) -> list[Path]:
    """Write the world as `system` exports it; return the files written."""
    if system not in WRITERS:
        raise Refusal(f"--as must be one of {', '.join(WRITERS)}, not {system!r}")
    written = []
    for name, frame in WRITERS[system](tables).items():
        header = [str(c).removesuffix(".1") for c in frame.columns]  # a name used twice
        write_text(frame.to_csv(index=False, header=header), out / name)
        written.append(out / name)
    return written
